"""COCO json as other tools write it loads, trains and evaluates: category ids from 0 and not
contiguous, no ``area``, polygon and RLE (compressed and uncompressed) masks, images without
annotations, ``iscrowd`` regions. Real files, read by pycocotools through Detectron2."""
import json
import os

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_coco_instances
from detectron2.evaluation import COCOEvaluator as D2COCOEvaluator
from detectron2.structures import Boxes, BoxMode, Instances
from pycocotools import mask as mask_util

from freqdet.detection.mapper import DCTDatasetMapper
from freqdet.detection.evaluation import COCOEvaluator
from freqdet.detection.trainer import Trainer
from test_detection_model import make_cfg

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H, W = 96, 128
CATEGORIES = [{"id": 0, "name": "box"}, {"id": 7, "name": "disc"}, {"id": 3, "name": "bar"}]


def _rle(mask, compressed=True):
    """COCO RLE of a bool mask: compressed (``counts`` a string) or uncompressed (a list of run lengths)."""
    if compressed:
        rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
        return {"size": [H, W], "counts": rle["counts"].decode("ascii")}
    flat = mask.astype(np.uint8).flatten(order="F")
    runs, value, count = [], 0, 0
    for v in flat:
        if v == value:
            count += 1
        else:
            runs.append(count)
            value, count = v, 1
    runs.append(count)
    return {"size": [H, W], "counts": [int(r) for r in runs]}


def _bbox(mask):
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


def write_foreign_coco(root, split="train"):
    """3 JPEGs and a json a non-COCO tool might write; returns (json path, image dir, {image id: true masks})."""
    rng = np.random.default_rng(0)
    os.makedirs(root / split, exist_ok=True)
    disc = np.zeros((H, W), np.uint8)
    cv2.circle(disc, (90, 40), 20, 1, -1)
    box = np.zeros((H, W), bool)
    box[10:50, 8:48] = True
    bar = np.zeros((H, W), bool)
    bar[60:90, 20:110] = True
    crowd = np.zeros((H, W), bool)
    crowd[5:25, 60:120] = True
    images, anns, truth = [], [], {}
    layouts = [
        [("box", box, "polygon", 0), ("disc", disc.astype(bool), "rle", 0)],  # no "area" on these
        [("bar", bar, "rle_uncompressed", 0), ("box", box, "polygon", 0), ("crowd", crowd, "rle_uncompressed", 1)],
        [],  # an image without annotations
    ]
    cat_of = {"box": 0, "disc": 7, "bar": 3, "crowd": 7}
    for i, layout in enumerate(layouts):
        image = rng.integers(0, 80, (H, W, 3), dtype=np.uint8)
        for name, mask, _, _ in layout:
            image[mask] = {"box": (200, 40, 40), "disc": (40, 200, 40), "bar": (40, 40, 200), "crowd": (200, 200, 0)}[name]
        fname = f"img{i}.jpg"
        cv2.imwrite(str(root / split / fname), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append({"id": 100 + i, "file_name": fname, "height": H, "width": W})
        for name, mask, kind, iscrowd in layout:
            ann = {"id": len(anns) + 1, "image_id": 100 + i, "category_id": cat_of[name], "bbox": _bbox(mask),
                   "iscrowd": iscrowd}
            if kind == "polygon":  # the box's outline, on pixel edges
                x, y, w, h = _bbox(mask)
                ann["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
            else:
                ann["segmentation"] = _rle(mask, compressed=kind == "rle")
            if i == 1:
                ann["area"] = float(mask.sum())
            anns.append(ann)
            truth.setdefault(100 + i, []).append(mask)
    path = root / f"{split}.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": CATEGORIES}))
    return str(path), str(root / split), truth


@pytest.fixture(scope="module")
def foreign(tmp_path_factory):
    root = tmp_path_factory.mktemp("foreign")
    json_file, image_root, truth = write_foreign_coco(root)
    name = "foreign_coco_test"
    if name not in DatasetCatalog.list():
        register_coco_instances(name, {}, json_file, image_root)
    return {"name": name, "json": json_file, "truth": truth, "root": root}


def _cfg(foreign, out=""):
    cfg = make_cfg("24", 1)
    cfg.merge_from_list([
        "DATASETS.TRAIN", (foreign["name"],), "DATASETS.TEST", (foreign["name"],), "INPUT.MASK_FORMAT", "bitmask",
        "INPUT.MIN_SIZE_TRAIN", (96,), "INPUT.MAX_SIZE_TRAIN", 128, "INPUT.MIN_SIZE_TEST", 96, "INPUT.MAX_SIZE_TEST", 128,
        "INPUT.RANDOM_FLIP", "none", "MODEL.ROI_HEADS.NUM_CLASSES", 3, "DATALOADER.NUM_WORKERS", 0,
        "SOLVER.IMS_PER_BATCH", 2, "SOLVER.MAX_ITER", 2, "SOLVER.BASE_LR", 0.001, "SOLVER.WARMUP_ITERS", 1,
        "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", 16, "MODEL.RPN.POST_NMS_TOPK_TRAIN", 64,
        "MODEL.RPN.POST_NMS_TOPK_TEST", 32, "TEST.EVAL_PERIOD", 0, "OUTPUT_DIR", str(out), "MODEL.WEIGHTS", "",
        # from scratch, as the demo: GroupNorm (frozen BN without ImageNet statistics overflows)
        "MODEL.RESNETS.NORM", "GN", "MODEL.FPN.NORM", "GN", "MODEL.RESNETS.STRIDE_IN_1X1", False,
        "MODEL.BACKBONE.FREEZE_AT", 0,
    ])
    return cfg


def test_loads_with_contiguous_classes_and_exact_masks(foreign):
    dicts = DatasetCatalog.get(foreign["name"])
    meta = MetadataCatalog.get(foreign["name"])
    assert meta.thing_dataset_id_to_contiguous_id == {0: 0, 3: 1, 7: 2} and meta.thing_classes == ["box", "bar", "disc"]
    assert [len(d["annotations"]) for d in dicts] == [2, 3, 0]
    mapper = DCTDatasetMapper(_cfg(foreign), is_train=True)
    for d in dicts[:2]:
        out = mapper(dict(d))
        inst = out["instances"]
        kept = [a for a in d["annotations"] if not a["iscrowd"]]  # crowd regions are not training targets
        assert len(inst) == len(kept) and out["image"].shape == (24, 12, 16)
        assert inst.gt_classes.tolist() == [a["category_id"] for a in kept]
        want_masks = [m for m, a in zip(foreign["truth"][d["image_id"]], d["annotations"]) if not a["iscrowd"]]
        for got, want in zip(inst.gt_masks.tensor.numpy(), want_masks, strict=True):
            np.testing.assert_array_equal(got, want)  # polygons on pixel edges and RLE decode exactly


def test_polygon_mask_format_names_the_key(foreign):
    cfg = _cfg(foreign)
    cfg.INPUT.MASK_FORMAT = "polygon"
    d = DatasetCatalog.get(foreign["name"])[0]
    with pytest.raises(ValueError, match=r"img0.jpg: its annotation masks include RLE .*set INPUT.MASK_FORMAT bitmask"):
        DCTDatasetMapper(cfg, is_train=True)(dict(d))


def test_ground_truth_as_detections_gives_ap_100(foreign, tmp_path):
    """Detectron2's evaluator stops at the missing ``area``; ours completes it, maps contiguous ids
    back to 0/7/3, ignores the crowd region, and GT-as-predictions scores exactly 100."""
    dicts = DatasetCatalog.get(foreign["name"])
    with pytest.raises(KeyError, match="area"):
        _evaluate(D2COCOEvaluator(foreign["name"], output_dir=str(tmp_path / "d2")), dicts, foreign)
    results = _evaluate(COCOEvaluator(foreign["name"], output_dir=str(tmp_path / "ours")), dicts, foreign)
    assert results["bbox"]["AP"] == pytest.approx(100.0) and results["segm"]["AP"] == pytest.approx(100.0)


def _evaluate(evaluator, dicts, foreign):
    inv = MetadataCatalog.get(foreign["name"]).thing_dataset_id_to_contiguous_id
    evaluator.reset()
    for d in dicts:
        anns = [a for a in d["annotations"] if not a["iscrowd"]]
        true_masks = [m for m, a in zip(foreign["truth"].get(d["image_id"], []), d["annotations"]) if not a["iscrowd"]]
        boxes = torch.tensor([BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in anns]).reshape(-1, 4)
        masks = torch.from_numpy(np.stack(true_masks)) if anns else torch.zeros(0, H, W, dtype=bool)
        det = Instances((H, W), pred_boxes=Boxes(boxes), scores=torch.ones(len(anns)), pred_masks=masks,
                        pred_classes=torch.tensor([a["category_id"] for a in anns], dtype=torch.long))
        assert all(a["category_id"] in inv.values() for a in anns)
        evaluator.process([{"image_id": d["image_id"], "height": H, "width": W}], [{"instances": det}])
    return evaluator.evaluate()


def test_trains_and_evaluates_with_train_net(foreign, tmp_path):
    cfg = _cfg(foreign, tmp_path)
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0  # 2 iterations: keep the low scores, so there is something to score
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()  # 2 iterations, then the final evaluation on the same foreign json
    results = Trainer.test(cfg, trainer.model)
    assert set(results) == {"bbox", "segm"} and np.isfinite(results["segm"]["AP"])
    rows = [json.loads(line) for line in open(tmp_path / "metrics.json") if "loss_mask" in line]
    assert rows and all(np.isfinite(r["loss_mask"]) and np.isfinite(r["total_loss"]) for r in rows)
