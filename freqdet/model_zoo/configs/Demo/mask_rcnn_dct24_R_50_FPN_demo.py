# LazyConfig twin of mask_rcnn_dct24_R_50_FPN_demo.yaml (`make demo`): DCT-24 Mask R-CNN R50-FPN,
# s=1, 192 px, GroupNorm, from scratch on CPU, the generated demo set (datasets/prepare_demo.py).
#   python tools/lazyconfig_train_net.py --config-file configs/Demo/mask_rcnn_dct24_R_50_FPN_demo.py
# Same network as the yacs config (tests/test_lazyconfig.py compares the parameter counts).
import detectron2.data.transforms as T
from detectron2.config import LazyCall as L
from detectron2.solver import WarmupParamScheduler
from fvcore.common.param_scheduler import MultiStepParamScheduler

from freqdet.model_zoo.configs.common.coco_dct import make

model, dataloader, optimizer, lr_multiplier, train = make(
    channels="24", upsample=1, mask=True, stats_file="output/demo/dct_stats.json"  # tools/compute_dct_stats.py
)

# ---- model: from scratch, GroupNorm, five classes, small objects ---------------------------
bottom_up = model.backbone.bottom_up
bottom_up.freeze_at = 0
bottom_up.stages.norm = "GN"
bottom_up.stages.stride_in_1x1 = False
model.backbone.norm = "GN"
model.proposal_generator.anchor_generator.sizes = [[16], [32], [64], [128], [256]]  # objects ~20..85 px
model.proposal_generator.pre_nms_topk = (1000, 500)  # (train, test)
model.proposal_generator.post_nms_topk = (500, 200)
model.proposal_generator.batch_size_per_image = 128
model.roi_heads.num_classes = 5
model.roi_heads.batch_size_per_image = 64
model.roi_heads.box_predictor.test_topk_per_image = 50
model.roi_heads.mask_head.conv_norm = "GN"

# ---- data: the demo set at 192 px ------------------------------------------------------------
dataloader.train.dataset.names = "freqdet_demo_train"
dataloader.train.mapper.augmentations = [
    L(T.ResizeShortestEdge)(short_edge_length=(192,), sample_style="choice", max_size=192),
    L(T.RandomFlip)(horizontal=True),
]
dataloader.train.mapper.instance_mask_format = "bitmask"  # the demo json mixes polygons and RLE
dataloader.train.total_batch_size = 4
dataloader.train.num_workers = 1
dataloader.test.dataset.names = "freqdet_demo_val"
dataloader.test.mapper.augmentations = [L(T.ResizeShortestEdge)(short_edge_length=192, max_size=192)]
dataloader.test.num_workers = 1

# ---- schedule: 400 iterations, as the yacs demo -------------------------------------------------
optimizer.lr = 0.02
train.max_iter = 400
lr_multiplier = L(WarmupParamScheduler)(
    scheduler=L(MultiStepParamScheduler)(values=[1.0, 0.1, 0.01], milestones=[300, 370], num_updates=400),
    warmup_length=50 / 400,
    warmup_factor=0.001,
)
train.init_checkpoint = ""  # from scratch
train.device = "cpu"
train.eval_period = 0
train.checkpointer.period = 100000
train.output_dir = "output/demo/lazy"
