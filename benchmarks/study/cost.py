"""What an arm costs, measured on its model and input rather than taken from the config, so that the
plot's x axis (bytes per image) and the GFLOPs are what the model really receives and computes."""
from __future__ import annotations

import os

from .arms import CONFIG, DATASETS, REPO, Plan, classification_arms, detection_arms, recipe

NUM_PATCH_CLASSES = 12  # the photo patches: one class per mate nature photo (only the last layer depends on it)


def detection_cost(plan: Plan, arm: str) -> dict:
    """GFLOPs (fvcore via Detectron2's FlopCountAnalysis) and bytes of one val image's model input."""
    import numpy as np
    import torch
    from detectron2.data import DatasetCatalog
    from detectron2.modeling import build_model
    from detectron2.utils.analysis import FlopCountAnalysis

    from freqdet.detection.config import input_spec, load_config
    from freqdet.detection.mapper import DCTDatasetMapper

    a = detection_arms(plan)[arm]
    size = a.size
    # FREEZE_AT 0: a pretrained arm's stem is frozen only once weights are loaded; freezing costs nothing
    cfg = load_config(os.path.join(REPO, CONFIG), [*recipe(plan, size), *a.opts, "MODEL.DEVICE", "cpu",
                                                   "MODEL.BACKBONE.FREEZE_AT", "0"])
    if cfg.MODEL.META_ARCHITECTURE != "GeneralizedRCNN":  # statistics do not change the cost
        c = input_spec(cfg).num_channels
        cfg.merge_from_list(["MODEL.PIXEL_STATS_FILE", "", "MODEL.PIXEL_MEAN", [0.0] * c, "MODEL.PIXEL_STD", [1.0] * c])
    mapper = DCTDatasetMapper(cfg, is_train=False)
    dicts = DatasetCatalog.get(DATASETS[1])[:4]
    inputs = [mapper(dict(d)) for d in dicts]
    model = build_model(cfg).eval()
    with torch.no_grad():
        flops = FlopCountAnalysis(model, inputs[:1])
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        gflops = flops.total() / 1e9
    nbytes = float(np.mean([x["image"].numel() * x["image"].element_size() for x in inputs]))
    return {"gflops": gflops, "input_bytes": nbytes, "input_shape": list(inputs[0]["image"].shape),
            "image_px": size, "dtype": str(inputs[0]["image"].dtype)}


def classification_cost(plan: Plan, arm: str) -> dict:
    """GFLOPs (fvcore) and float32 bytes of the classifier's input, RGB pixels or DCT coefficients."""
    import torch
    from fvcore.nn import FlopCountAnalysis

    from freqdet.classification.models import build_classifier

    arch, side, shape = classification_arms(plan)[arm]
    net = build_classifier(arch, NUM_PATCH_CLASSES, "24").eval()
    flops = FlopCountAnalysis(net, torch.zeros(1, *shape))
    flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    n = shape[0] * shape[1] * shape[2]
    return {"gflops": flops.total() / 1e9, "input_bytes": float(n * 4), "input_shape": list(shape),
            "image_px": side, "dtype": "torch.float32"}
