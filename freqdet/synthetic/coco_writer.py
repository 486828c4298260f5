"""Writing synthetic scenes as a COCO instance-segmentation set (JPEGs + json), and reading it back.

Everything the frequency pipeline must cope with in real data is present on purpose: real JPEG
files with 4:4:4 and 4:2:0 chroma subsampling, polygon and RLE masks, occluded instances.

Layout written under ``root`` (the COCO layout Detectron2 expects)::

    root/train/000001.jpg ...          root/val/000001.jpg ...
    root/annotations/instances_train.json, instances_val.json
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from pycocotools import mask as mask_util

from .shapes import CLASSES, compose_image, photos_for

# Bump when the generator's output changes: is_complete then rejects old data and it is regenerated.
DEMO_VERSION = 1
SPLITS = ("train", "val")
CATEGORIES = [{"id": cid, "name": name, "supercategory": "shape"} for cid, name, _, _ in CLASSES]
THING_CLASSES = [name for _, name, _, _ in CLASSES]
SUBSAMPLING = {"4:4:4": 0, "4:2:0": 2}  # Pillow's ``subsampling=`` codes
POLYGON_MIN_IOU = 0.98  # below this a polygon misrepresents the mask: store RLE instead


# ---- where the demo set lives ----

def repo_root() -> Path:
    """The checkout that holds this package (``datasets/`` lives there)."""
    return Path(__file__).resolve().parents[2]


def default_demo_root() -> str:
    """``$FREQDET_DATASETS/demo``, else ``<repo>/datasets/demo`` (as ``DETECTRON2_DATASETS``)."""
    base = os.environ.get("FREQDET_DATASETS") or str(repo_root() / "datasets")
    return os.path.join(os.path.expanduser(base), "demo")


def split_paths(root, split: str) -> dict:
    """Where one split's json file and image directory live under ``root``."""
    root = Path(root)
    return {
        "json_file": str(root / "annotations" / f"instances_{split}.json"),
        "image_root": str(root / split),
    }


# ---- masks as COCO segmentations ----

def mask_to_polygons(mask: np.ndarray) -> list:
    """COCO polygons tracing the pixel boundary of ``mask``.

    OpenCV traces pixel centres, half a pixel inside the region pycocotools fills; on a
    2x nearest-upsampled mask, (x + 0.5) / 2 lands on the pixel edges, and pycocotools
    re-rasterises the polygons to the same pixels (holes are not representable).
    """
    up = cv2.resize(mask.astype(np.uint8), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(up, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = [((c.reshape(-1, 2) + 0.5) / 2).ravel() for c in contours if len(c) >= 3]
    return [np.round(p, 2).tolist() for p in polys]


def polygons_to_mask(polygons: list, h: int, w: int) -> np.ndarray:
    """The mask pycocotools (and Detectron2) rasterise from COCO polygons."""
    return mask_util.decode(mask_util.merge(mask_util.frPyObjects(polygons, h, w))).astype(bool)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def encode_rle(mask: np.ndarray) -> dict:
    """Compressed COCO RLE with a JSON-serialisable ``counts`` string."""
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def encode_segmentation(mask: np.ndarray, as_polygon: bool):
    """(segmentation, the mask it decodes to): polygons when asked and faithful, else RLE."""
    if as_polygon:
        polys = mask_to_polygons(mask)
        if polys:
            decoded = polygons_to_mask(polys, *mask.shape)
            if mask_iou(decoded, mask) >= POLYGON_MIN_IOU:
                return polys, decoded
    return encode_rle(mask), mask


def make_annotation(ann_id: int, image_id: int, cls: int, mask: np.ndarray, as_polygon: bool) -> dict:
    """A COCO annotation whose bbox and area are those of the mask its segmentation decodes to."""
    segmentation, decoded = encode_segmentation(mask, as_polygon)
    rle = mask_util.encode(np.asfortranarray(decoded.astype(np.uint8)))
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": CLASSES[cls][0],
        "segmentation": segmentation,
        "area": float(mask_util.area(rle)),
        "bbox": [float(v) for v in mask_util.toBbox(rle)],
        "iscrowd": 0,
    }


# ---- writing ----

def _image_size(image_size) -> tuple:
    if isinstance(image_size, int):
        return (image_size, image_size)
    h, w = image_size
    return (int(h), int(w))


def _clear_split(paths: dict) -> None:
    """Remove a previous run's json (it marks completeness) and numbered JPEGs, nothing else."""
    os.makedirs(paths["image_root"], exist_ok=True)
    os.makedirs(os.path.dirname(paths["json_file"]), exist_ok=True)
    if os.path.exists(paths["json_file"]):
        os.remove(paths["json_file"])
    for old in Path(paths["image_root"]).glob("[0-9][0-9][0-9][0-9][0-9][0-9].jpg"):
        old.unlink()


def generate_split(root, split: str, num_images: int, image_size, seed: int = 0, *,
                   polygon_fraction: float = 0.5, quality: int = 90, max_instances: int = 6,
                   radius_range=(0.08, 0.22), period_range=(6, 12), backgrounds: str = "bundled",
                   progress: bool | None = None) -> dict:
    """Write one split's JPEGs and COCO json; returns its paths.

    Every image has its own generator seeded by (seed, split, index): a split does not
    depend on the other split's size, and the same seed gives byte-identical files.
    JPEGs alternate 4:4:4 (even index) and 4:2:0 (odd index) chroma subsampling.
    A previous run's json and numbered JPEGs in the split are removed first.
    ``radius_range``, ``period_range`` and ``backgrounds`` (see :func:`compose_image`,
    :func:`photos_for`) make other sets, e.g. the study's large scenes with small, finely
    textured objects; at their defaults the output is the demo set, byte for byte.
    """
    from tqdm import tqdm

    size = _image_size(image_size)
    photos = photos_for(backgrounds)
    scene = {"radius_range": [float(v) for v in radius_range], "period_range": [float(v) for v in period_range],
             "backgrounds": backgrounds}
    paths = split_paths(root, split)
    _clear_split(paths)
    images, annotations = [], []
    show = num_images > 16 if progress is None else progress
    for i in tqdm(range(num_images), desc=f"demo {split}", disable=not show, unit="img"):
        rng = np.random.default_rng([seed, SPLITS.index(split), i])
        image, instances = compose_image(rng, size, max_instances=max_instances, radius_range=radius_range,
                                         period_range=period_range, photos=photos)
        image_id, file_name = i + 1, f"{i + 1:06d}.jpg"
        sampling = "4:4:4" if i % 2 == 0 else "4:2:0"
        Image.fromarray(image).save(os.path.join(paths["image_root"], file_name), "JPEG",
                                    quality=quality, subsampling=SUBSAMPLING[sampling])
        images.append({"id": image_id, "file_name": file_name, "height": size[0], "width": size[1]})
        for cls, mask in instances:
            as_polygon = bool(rng.random() < polygon_fraction)
            annotations.append(make_annotation(len(annotations) + 1, image_id, cls, mask, as_polygon))
    params = {"version": DEMO_VERSION, "num_images": num_images, "image_size": list(size), "seed": seed,
              "polygon_fraction": polygon_fraction, "quality": quality, "max_instances": max_instances}
    defaults = {"radius_range": [0.08, 0.22], "period_range": [6.0, 12.0], "backgrounds": "bundled"}
    params.update({k: v for k, v in scene.items() if v != defaults[k]})  # the demo's json stays as it was
    coco = {"info": {"description": f"freqdet demo shapes ({split})", "params": params},
            "licenses": [], "images": images, "annotations": annotations, "categories": CATEGORIES}
    tmp = paths["json_file"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(coco, f)
    os.replace(tmp, paths["json_file"])  # the json appears last: its presence means "complete"
    return paths


def generate_demo_dataset(root=None, num_train: int = 200, num_val: int = 50, image_size=256,
                          seed: int = 0, **kwargs) -> dict:
    """Generate both splits under ``root`` (default: :func:`default_demo_root`).

    Returns ``{"train": {"json_file", "image_root"}, "val": {...}}``. ``kwargs`` go to
    :func:`generate_split` (polygon_fraction, quality, max_instances, progress).
    """
    root = default_demo_root() if root is None else str(root)
    counts = {"train": num_train, "val": num_val}
    return {split: generate_split(root, split, counts[split], image_size, seed, **kwargs) for split in SPLITS}


def ensure_demo_dataset(root=None, num_train: int = 200, num_val: int = 50, image_size=256, seed: int = 0,
                        force: bool = False) -> bool:
    """Generate the demo set under ``root`` unless a complete one made with these parameters is
    there (``force``: regenerate anyway); returns whether it generated."""
    root = default_demo_root() if root is None else str(root)
    if not force and is_complete(root, num_train, num_val, image_size, seed):
        return False
    generate_demo_dataset(root, num_train, num_val, image_size, seed)
    return True


# ---- reading back ----

def read_demo_json(json_file) -> dict:
    """Parse a demo/COCO json, with errors that name the file and say how to fix it."""
    json_file = str(json_file)
    hint = "generate it with `python datasets/prepare_demo.py --output <root>` (add --force to redo)"
    if not os.path.isfile(json_file):
        raise FileNotFoundError(f"COCO json {json_file} does not exist; {hint}")
    try:
        with open(json_file) as f:
            coco = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"COCO json {json_file} is corrupt ({e}); {hint}") from e
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(coco, dict) or k not in coco]
    if missing:
        raise ValueError(f"COCO json {json_file} lacks {missing}; {hint}")
    return coco


def is_complete(root, num_train=None, num_val=None, image_size=None, seed=None) -> bool:
    """True when both splits' jsons parse, every listed image exists and the parameters match."""
    wanted = {"train": num_train, "val": num_val}
    for split in SPLITS:
        paths = split_paths(root, split)
        try:
            coco = read_demo_json(paths["json_file"])
        except (FileNotFoundError, ValueError):
            return False
        params = coco.get("info", {}).get("params", {})
        checks = [("version", DEMO_VERSION), ("num_images", wanted[split]), ("seed", seed),
                  ("image_size", None if image_size is None else list(_image_size(image_size)))]
        if any(v is not None and params.get(k) != v for k, v in checks):
            return False
        if not all(os.path.isfile(os.path.join(paths["image_root"], im["file_name"])) for im in coco["images"]):
            return False
    return True


def summarize(root) -> dict:
    """Per split: images, instances per class, polygon/RLE counts (for the CLI's report)."""
    from collections import Counter

    names = {cid: name for cid, name, _, _ in CLASSES}
    summary = {}
    for split in SPLITS:
        coco = read_demo_json(split_paths(root, split)["json_file"])
        anns = coco["annotations"]
        summary[split] = {
            "images": len(coco["images"]),
            "instances": len(anns),
            "per_class": {names[c]: n for c, n in sorted(Counter(a["category_id"] for a in anns).items())},
            "polygon": sum(isinstance(a["segmentation"], list) for a in anns),
            "rle": sum(isinstance(a["segmentation"], dict) for a in anns),
        }
    return summary
