# LazyConfig twin of faster_rcnn_dct24_conv2_R_50_FPN_1x.yaml: Faster R-CNN R50-FPN, DCT-24, s=2, learned conv2 stem
# fitted to R-50.pkl's RGB stem (tools/convert_weights.py --fit-stem). Train: tools/lazyconfig_train_net.py
from freqdet.model_zoo.configs.common.coco_dct import make

model, dataloader, optimizer, lr_multiplier, train = make(
    channels="24", upsample=2, mask=False, stats_file="datasets/coco/dct_stats_s2.json", stem="conv2"
)
