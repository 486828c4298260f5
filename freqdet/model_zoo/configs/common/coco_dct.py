# COCO R-CNN FPN on DCT inputs from Detectron2's LazyConfig common/ pieces (model, data, optim,
# train), turned into their DCT versions by freqdet.model_zoo.lazy; the configs beside it set
# CHANNELS / UPSAMPLE / MASK and call make().
from detectron2.model_zoo import get_config

from freqdet.model_zoo.lazy import dct_dataloader, dct_model


def make(channels="24", upsample=2, mask=True, stats_file="datasets/coco/dct_stats_s2.json", stem="none"):
    """(model, dataloader, optimizer, lr_multiplier, train) of a 1x COCO schedule on DCT input;
    ``stem``: MODEL.DCT_STEM.NAME's choice."""
    model = dct_model(get_config("common/models/mask_rcnn_fpn.py").model, channels, upsample, stats_file, mask, stem)
    dataloader = dct_dataloader(get_config("common/data/coco.py").dataloader, channels, upsample, "float16")
    dataloader.train.mapper.use_instance_mask = mask
    optimizer = get_config("common/optim.py").SGD
    lr_multiplier = get_config("common/coco_schedule.py").lr_multiplier_1x
    train = get_config("common/train.py").train
    # ImageNet-pretrained DCT ResNet-50, as the yacs configs: tools/convert_weights.py ... --channels 24
    # (no stem), or --fit-stem with the yacs twin's learned stem
    train.init_checkpoint = "weights/R-50-dct24.pkl" if stem == "none" else f"weights/R-50-dct24-{stem}.pkl"
    # True: load init_checkpoint even where its tensors have other shapes (e.g. fine-tuning to new classes),
    # leaving those initialised; False refuses such weights, naming the tensors (yacs: MODEL.WEIGHTS_PARTIAL).
    train.init_checkpoint_partial = False
    train.max_iter = 90000
    return model, dataloader, optimizer, lr_multiplier, train
