"""Embedded demo data: a small COCO instance-segmentation set made on the fly.

Coloured, textured shapes of five classes are pasted onto crops of real photos that
ship inside PyPI packages (scikit-image, scikit-learn, matplotlib), so the project can
train and evaluate Mask R-CNN end to end without downloading COCO. Everything the
frequency pipeline must cope with in real data is present on purpose: real JPEG files
with 4:4:4 and 4:2:0 chroma subsampling, polygon and RLE masks, occluded instances.

Layout written under ``root`` (the COCO layout Detectron2 expects)::

    root/train/000001.jpg ...          root/val/000001.jpg ...
    root/annotations/instances_train.json, instances_val.json
"""
from __future__ import annotations

import functools
import json
import logging
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from pycocotools import mask as mask_util

logger = logging.getLogger(__name__)

# Bump when the generator's output changes, so prepare_demo.py regenerates old data.
DEMO_VERSION = 1
SPLITS = ("train", "val")
BUILTIN_NAMES = ("freqdet_demo_train", "freqdet_demo_val")

# id, name, base hue in OpenCV degrees/2 (0..180), texture. Hue and texture are class
# cues on top of the shape, so a small detector learns the demo in a few minutes.
CLASSES = (
    (1, "circle", 0, "solid"),       # red
    (2, "rectangle", 60, "stripes"),  # green
    (3, "triangle", 120, "checker"),  # blue
    (4, "ellipse", 30, "gradient"),   # yellow
    (5, "star", 150, "dots"),         # magenta
)
CATEGORIES = [{"id": cid, "name": name, "supercategory": "shape"} for cid, name, _, _ in CLASSES]
THING_CLASSES = [name for _, name, _, _ in CLASSES]

SUBSAMPLING = {"4:4:4": 0, "4:2:0": 2}  # Pillow's ``subsampling=`` codes
POLYGON_MIN_IOU = 0.98  # below this a polygon misrepresents the mask: store RLE instead


# --------------------------------------------------------------------------- paths


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


# --------------------------------------------------------------------- backgrounds


@functools.lru_cache(maxsize=1)
def background_photos() -> tuple:
    """Real RGB photos bundled with scikit-image, scikit-learn and matplotlib (no download)."""
    try:
        from skimage import data as skdata
        from sklearn.datasets import load_sample_image
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("demo data needs scikit-image and scikit-learn: pip install 'freqdet[demo]'") from e
    import matplotlib.cbook

    photos = [getattr(skdata, n)() for n in ("astronaut", "coffee", "chelsea", "rocket", "camera")]
    photos += [load_sample_image(n) for n in ("china.jpg", "flower.jpg")]
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        photos.append(np.asarray(Image.open(f).convert("RGB")))
    return tuple(np.ascontiguousarray(np.broadcast_to(p[..., None], p.shape + (3,)) if p.ndim == 2 else p[..., :3])
                 for p in photos)


MATE_DIR = "/usr/share/backgrounds/mate/nature"  # Debian's mate-backgrounds: 1.3-4.9 MPix photos
BACKGROUNDS = ("bundled", "mate")


@functools.lru_cache(maxsize=1)
def mate_photos(directory: str = MATE_DIR) -> tuple:
    """The JPEG photos of Debian's ``mate-backgrounds`` (large scenes for the study set)."""
    files = sorted(Path(directory).glob("*.jpg"))
    if not files:
        raise FileNotFoundError(f"no JPEG photos in {directory}: install Debian's mate-backgrounds "
                                "(apt-get install mate-backgrounds; `make study` does it)")
    return tuple(np.asarray(Image.open(f).convert("RGB")) for f in files)


def photos_for(backgrounds: str) -> tuple:
    """Background photos by name: "bundled" (PyPI packages, the demo's) or "mate" (:func:`mate_photos`)."""
    if backgrounds not in BACKGROUNDS:
        raise ValueError(f"backgrounds must be one of {BACKGROUNDS}, got {backgrounds!r}")
    return background_photos() if backgrounds == "bundled" else mate_photos()


def random_background(rng: np.random.Generator, size: tuple, photos: tuple | None = None) -> np.ndarray:
    """A random crop of a random photo (default :func:`background_photos`), resized to ``size`` (h, w)
    and maybe mirrored."""
    h, w = size
    photos = background_photos() if photos is None else photos
    photo = photos[rng.integers(len(photos))]
    ph, pw = photo.shape[:2]
    # Largest crop with the target aspect, then a random fraction of it.
    scale = min(ph / h, pw / w) * rng.uniform(0.4, 1.0)
    ch, cw = max(1, int(h * scale)), max(1, int(w * scale))
    y0, x0 = rng.integers(ph - ch + 1), rng.integers(pw - cw + 1)
    crop = photo[y0:y0 + ch, x0:x0 + cw]
    out = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if scale > 1 else cv2.INTER_LINEAR)
    return np.ascontiguousarray(out[:, ::-1]) if rng.random() < 0.5 else out


# -------------------------------------------------------------------------- shapes


def _regular_points(rng, center, radius, n, radii=(1.0,)):
    """Vertices of a randomly rotated n-gon (or star when ``radii`` alternate)."""
    angles = rng.uniform(0, 2 * np.pi) + np.arange(n) * 2 * np.pi / n
    r = radius * np.resize(np.asarray(radii, float), n)
    return np.stack([center[0] + r * np.cos(angles), center[1] + r * np.sin(angles)], 1)


def shape_mask(kind: str, rng: np.random.Generator, size: tuple, center, radius: float) -> np.ndarray:
    """Exact (aliased) bool mask of one shape: every pixel is fully in or out."""
    m = np.zeros(size, np.uint8)
    c = (int(round(center[0])), int(round(center[1])))
    if kind == "circle":
        cv2.circle(m, c, int(round(radius)), 1, -1, lineType=cv2.LINE_8)
    elif kind == "ellipse":
        axes = (int(round(radius)), max(2, int(round(radius * rng.uniform(0.35, 0.65)))))
        cv2.ellipse(m, c, axes, rng.uniform(0, 180), 0, 360, 1, -1, lineType=cv2.LINE_8)
    else:
        if kind == "rectangle":
            aspect = rng.uniform(0.45, 1.0)  # squares included
            sides = (2 * radius / np.sqrt(1 + aspect ** 2)) * np.array([1.0, aspect])
            pts = cv2.boxPoints(((float(center[0]), float(center[1])), tuple(sides), rng.uniform(0, 180)))
        elif kind == "triangle":
            pts = _regular_points(rng, center, radius, 3) + rng.normal(0, radius * 0.12, (3, 2))
        elif kind == "star":
            pts = _regular_points(rng, center, radius, 10, radii=(1.0, rng.uniform(0.4, 0.5)))
        else:
            raise ValueError(f"unknown shape {kind!r}")
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1, lineType=cv2.LINE_8)
    return m.astype(bool)


def shape_fill(texture: str, hue: float, rng: np.random.Generator, size: tuple,
               period_range: tuple = (6, 12)) -> np.ndarray:
    """Full-image RGB float fill: the class hue (jittered) modulated by the class texture, whose
    period (pixels) is drawn from ``period_range`` (small periods vanish when the image is downsized)."""
    h, w = size
    hsv = np.uint8([[[np.clip(hue + rng.integers(-8, 9), 0, 179) % 180,
                      rng.integers(170, 256), rng.integers(170, 256)]]])
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, np.pi)
    along = xx * np.cos(theta) + yy * np.sin(theta)
    period = rng.uniform(*period_range)
    if texture == "solid":
        pattern = np.ones((h, w), np.float32)
    elif texture == "stripes":
        pattern = (np.sin(2 * np.pi * along / period) > 0).astype(np.float32)
    elif texture == "checker":
        pattern = ((xx // (period / 2) + yy // (period / 2)) % 2).astype(np.float32)
    elif texture == "gradient":  # triangle wave slow enough to read as shading across a shape
        pattern = np.abs((along / (5 * period)) % 2 - 1)
    elif texture == "dots":
        pattern = ((np.sin(2 * np.pi * xx / period) * np.sin(2 * np.pi * yy / period)) > 0.4).astype(np.float32)
    else:
        raise ValueError(f"unknown texture {texture!r}")
    return rgb * (0.55 + 0.45 * pattern)[..., None]


# ------------------------------------------------------------------ one image


def occlude(masks: list, new: np.ndarray) -> list:
    """Visible masks after ``new`` is pasted on top: later shapes cover earlier ones."""
    return [m & ~new for m in masks]


def compose_image(rng: np.random.Generator, size: tuple, max_instances: int = 6,
                  min_area: int = 64, min_visible: float = 0.4, max_tries: int = 20, *,
                  radius_range: tuple = (0.08, 0.22), period_range: tuple = (6, 12), photos: tuple | None = None):
    """One RGB image and its instances [(class index, visible bool mask)].

    Shape radii are drawn from ``radius_range`` (fractions of the short side), texture periods
    from ``period_range`` (pixels), backgrounds from ``photos`` (default the bundled ones).

    A candidate shape is rejected when it would leave an earlier instance (or itself)
    smaller than ``min_area`` pixels or below ``min_visible`` of its full area, so no
    unlabelled fragment of a dropped shape is ever painted.
    """
    h, w = size
    image = random_background(rng, size, photos).astype(np.float32)
    labels, masks, full_areas = [], [], []
    target = int(rng.integers(1, max_instances + 1))
    for _ in range(max_tries):
        if len(labels) >= target:
            break
        cls = int(rng.integers(len(CLASSES)))
        radius = rng.uniform(*radius_range) * min(h, w)
        center = (rng.uniform(0.6 * radius, w - 0.6 * radius), rng.uniform(0.6 * radius, h - 0.6 * radius))
        new = shape_mask(CLASSES[cls][1], rng, size, center, radius)
        visible = occlude(masks, new)
        areas = [int(new.sum())] + [int(m.sum()) for m in visible]
        fulls = [areas[0]] + full_areas
        if any(a < min_area or a < min_visible * f for a, f in zip(areas, fulls)):
            continue
        fill = shape_fill(CLASSES[cls][3], CLASSES[cls][2], rng, size, period_range)
        image[new] = fill[new]
        labels, masks, full_areas = labels + [cls], visible + [new], full_areas + [areas[0]]
    return np.clip(image, 0, 255).astype(np.uint8), list(zip(labels, masks))


# --------------------------------------------------------------- annotations


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


# ---------------------------------------------------------------- dataset


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


# ------------------------------------------------------------ reading back


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


def load_demo_json(json_file, image_root, dataset_name=None) -> list:
    """Detectron2 dataset dicts of a demo split: checks the file, then ``load_coco_json``."""
    from detectron2.data.datasets import load_coco_json

    read_demo_json(json_file)
    return load_coco_json(str(json_file), str(image_root), dataset_name)


# ------------------------------------------------------------- registration


def register_split(name: str, json_file: str, image_root: str) -> None:
    """Register one split like ``register_coco_instances``, but idempotently and with checked loading.

    Re-registering the same paths is a no-op; other paths replace the old entry (a user
    pointing the demo names at a new root). Nothing is read until ``DatasetCatalog.get``.
    """
    from detectron2.data import DatasetCatalog, MetadataCatalog

    json_file, image_root = str(json_file), str(image_root)
    if name in DatasetCatalog.list():
        meta = MetadataCatalog.get(name)
        if meta.get("json_file") == json_file and meta.get("image_root") == image_root:
            return
        logger.info("Re-registering %s at %s", name, json_file)
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, functools.partial(load_demo_json, json_file, image_root, name))
    MetadataCatalog.get(name).set(json_file=json_file, image_root=image_root, evaluator_type="coco",
                                  thing_classes=list(THING_CLASSES))


def register_demo_datasets(root=None, names=BUILTIN_NAMES) -> dict:
    """Register the (train, val) demo splits under ``root`` as ``names``; returns name -> paths."""
    root = default_demo_root() if root is None else str(root)
    out = {}
    for name, split in zip(names, SPLITS, strict=True):
        paths = split_paths(root, split)
        register_split(name, paths["json_file"], paths["image_root"])
        out[name] = paths
    return out


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
