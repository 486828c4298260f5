# LazyConfig twin of mask_rcnn_dct24_R_50_FPN_1x.yaml: Mask R-CNN R50-FPN, DCT-24, s=2 (res2..res5
# strides 4..32 px, the paper's detection setting). Train: tools/lazyconfig_train_net.py --config-file <this>
from freqdet.model_zoo.configs.common.coco_dct import make

model, dataloader, optimizer, lr_multiplier, train = make(
    channels="24", upsample=2, mask=True, stats_file="datasets/coco/dct_stats_s2.json"
)
