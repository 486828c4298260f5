# LazyConfig twin of faster_rcnn_dct24_R_50_FPN_1x.yaml: Faster R-CNN R50-FPN, DCT-24, s=2.
from freqdet.model_zoo.configs.common.coco_dct import make

model, dataloader, optimizer, lr_multiplier, train = make(
    channels="24", upsample=2, mask=False, stats_file="datasets/coco/dct_stats_s2.json"
)
