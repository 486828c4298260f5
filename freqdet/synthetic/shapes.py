"""Drawing the synthetic scenes: coloured, textured shapes of five classes on crops of real photos.

The photos ship inside PyPI packages (scikit-image, scikit-learn, matplotlib) or, for the
large-scene study set, Debian's mate-backgrounds (also the source of :mod:`.photo_patches`);
nothing is downloaded. Masks are exact (aliased): every pixel is in a shape or not, so the COCO
annotations written from them (:mod:`.coco_writer`) describe the drawn pixels.
"""
from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


# id, name, base hue in OpenCV degrees/2 (0..180), texture. Hue and texture are class
# cues on top of the shape, so a small detector learns the demo in a few minutes.
CLASSES = (
    (1, "circle", 0, "solid"),       # red
    (2, "rectangle", 60, "stripes"),  # green
    (3, "triangle", 120, "checker"),  # blue
    (4, "ellipse", 30, "gradient"),   # yellow
    (5, "star", 150, "dots"),         # magenta
)
MATE_DIR = "/usr/share/backgrounds/mate/nature"  # Debian's mate-backgrounds: 1.3-4.9 MPix photos
BACKGROUNDS = ("bundled", "mate")


# ---- background photos ----

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


def mate_photo_files(directory: str = MATE_DIR) -> list[Path]:
    """The JPEG files of Debian's ``mate-backgrounds``, sorted; an error saying how to install them."""
    files = sorted(Path(directory).glob("*.jpg"))
    if not files:
        raise FileNotFoundError(f"no JPEG photos in {directory}: install Debian's mate-backgrounds "
                                "(apt-get install mate-backgrounds; `make study` does it)")
    return files


@functools.lru_cache(maxsize=1)
def mate_photos(directory: str = MATE_DIR) -> tuple:
    """The photos of :func:`mate_photo_files` as RGB arrays (large scenes for the study set)."""
    return tuple(np.asarray(Image.open(f).convert("RGB")) for f in mate_photo_files(directory))


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


# ---- one shape ----

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


# ---- a scene ----

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
