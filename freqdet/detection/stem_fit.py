"""Fit a learned DCT stem to an RGB ResNet's stem, so res2..res5 keep their RGB weights unchanged.

The paper's conversion drops the RGB stem and slices res2's first convolutions to C channels,
so res2 sees inputs it was never trained on. With a learned stem (``MODEL.DCT_STEM``) res2 takes
64 channels, exactly as in the RGB network; if the stem's output is what the RGB stem (conv1 7x7
s2 -> norm -> ReLU -> max-pool 3x3 s2, Detectron2's ``BasicStem`` with FrozenBN) gives on the
same image, res2..res5 start where ImageNet left them. That needs no labels: on unlabelled
photos, the stem is regressed onto the RGB stem's output on the same grid. The DCT at upsample
s has cells of 8/s pixels; the RGB stem's stride is 4, so it runs on the image resized by s/2
(s=2: the image itself). Both are computed batched in PyTorch (:class:`freqdet.core.torch_dct.BlockDCT`).

The loss is the mean squared error per channel divided by that channel's variance (measured
on the first training batches), i.e. the mean of 1 - R^2 over channels; the report is the
per-channel R^2 on held-out images (whole images, never cropped from during the fit).

Norms are fitted as the config's stem will run them: GN as is; FrozenBN as a free per-channel
affine, stored as FrozenBN weight/bias with running mean 0 and variance 1 - eps (Detectron2's
identity); BN/SyncBN as BatchNorm trained on batch statistics, whose running statistics are then
measured over training batches (fvcore's ``update_bn_stats``). The norms start data-initialised
(the stem's output at the target's per-channel mean and std), so Adam fits shape, not scale.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from typing import Callable, Optional, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from detectron2.layers import FrozenBatchNorm2d
from detectron2.modeling.backbone.resnet import BasicStem
from fvcore.nn.precise_bn import update_bn_stats
from torch import nn
from tqdm import tqdm

from freqdet.core.torch_dct import BlockDCT

from .backbone import dct_stem
from .config import input_spec
from .mapper import read_image
from .meta_arch import dct_pixel_stats
from .weights import torchvision_to_detectron2

__all__ = ["IMAGE_EXTENSIONS", "SOURCE_INPUTS", "FitOptions", "RGBInput", "fit_dct_stem", "fitted_stem_backbone",
           "list_images", "prepare_image", "r2_per_channel", "rgb_stem", "source_input_of", "split_images"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class RGBInput:
    """What the RGB network was trained on: channel order and the per-channel mean/std (0..255 scale)."""

    format: str
    mean: tuple
    std: tuple


# Detectron2/MSRA R-50.pkl (Caffe2): BGR, mean subtracted, no std; torchvision: RGB, ImageNet mean/std.
SOURCE_INPUTS = {
    "msra": RGBInput("BGR", (103.53, 116.28, 123.675), (1.0, 1.0, 1.0)),
    "torchvision": RGBInput("RGB", (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),
}


def source_input_of(raw_keys: Sequence[str]) -> str:
    """``"torchvision"`` for torchvision key names (``conv1.weight``, ``layer1.*``), else ``"msra"``
    (Detectron2/Caffe2 names: the model zoo's R-50.pkl convention)."""
    keys = set(raw_keys)
    return "torchvision" if "conv1.weight" in keys or any(k.startswith("layer1.") for k in keys) else "msra"


@dataclass
class FitOptions:
    """Fit settings (``tools/convert_weights.py --fit-stem`` flags); sizes in pixels."""

    iterations: int = 600
    batch_size: int = 8
    crop: int = 96  # square training crops; a multiple of 16 (the grid at s=1 of the half-size image)
    fit_size: int = 192  # every image is first resized so its short side is this
    min_scale: float = 0.5  # training crops come from the image further resized by a factor in [min_scale, 1]
    held_out: float = 0.2  # fraction of the images kept for the R^2 report (at least 1)
    lr: float = 3e-3
    seed: int = 0
    max_images: int = 0  # use this many of the folder's images, picked at random (0: all)

    def check(self) -> None:
        if self.crop < 16 or self.crop % 16:
            raise ValueError(f"--crop must be a positive multiple of 16, got {self.crop}")
        if self.fit_size < self.crop:
            raise ValueError(f"--fit-size ({self.fit_size}) must be at least --crop ({self.crop})")
        if self.iterations < 1 or self.batch_size < 1:
            raise ValueError("--iterations and --batch-size must be positive")
        if not 0 < self.held_out < 1:
            raise ValueError(f"--held-out must be a fraction in (0, 1), got {self.held_out}")
        if self.max_images < 0 or self.max_images == 1:
            raise ValueError(f"--max-images must be 0 (all) or at least 2, got {self.max_images}")
        if not 0 < self.min_scale <= 1:
            raise ValueError(f"min_scale must be in (0, 1], got {self.min_scale}")


# ---- Images --------------------------------------------------------------------------------------

def list_images(folder: str) -> list[str]:
    """Image files (by extension) under ``folder``, recursively, sorted; errors name ``--images``."""
    if not os.path.isdir(folder):
        raise ValueError(f"--images {folder!r} is not a folder (give a folder of unlabelled photos)")
    files = sorted(os.path.join(root, f) for root, _, names in os.walk(folder) for f in names
                   if f.lower().endswith(IMAGE_EXTENSIONS))
    if len(files) < 2:
        raise ValueError(f"--images {folder!r} holds {len(files)} image file(s) ({', '.join(IMAGE_EXTENSIONS)}); "
                         "the fit needs at least 2 (one is held out for the R^2 report), a few hundred for a good fit")
    return files


def split_images(files: Sequence[str], held_out: float, seed: int) -> tuple[list[str], list[str]]:
    """(train, held-out) by a seeded shuffle; at least one image on each side."""
    order = np.random.default_rng(seed).permutation(len(files))
    n_held = min(max(1, round(held_out * len(files))), len(files) - 1)
    return sorted(files[i] for i in order[n_held:]), sorted(files[i] for i in order[:n_held])


def prepare_image(path: str, fit_size: int) -> np.ndarray:
    """RGB uint8 ``path`` resized (INTER_AREA) so its short side is ``fit_size``, cut at its top-left
    to multiples of 16 on both sides (whole cells of both grids at s=1 and s=2)."""
    image = read_image(path, "RGB")
    h, w = image.shape[:2]
    k = fit_size / min(h, w)
    size = (max(16, round(w * k)), max(16, round(h * k)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    return np.ascontiguousarray(image[: image.shape[0] // 16 * 16, : image.shape[1] // 16 * 16])


def _random_crops(images: list, options: FitOptions, rng: np.random.Generator) -> torch.Tensor:
    """(B, 3, crop, crop) float RGB: random images, scales in [min_scale, 1], positions and flips."""
    crops = []
    for _ in range(options.batch_size):
        image = images[rng.integers(len(images))]
        h, w = image.shape[:2]
        lo = max(options.min_scale, options.crop / min(h, w))
        scale = rng.uniform(lo, 1.0)
        if scale < 1.0:
            image = cv2.resize(image, (max(options.crop, round(w * scale)), max(options.crop, round(h * scale))),
                               interpolation=cv2.INTER_AREA)
        y = rng.integers(image.shape[0] - options.crop + 1)
        x = rng.integers(image.shape[1] - options.crop + 1)
        crop = image[y:y + options.crop, x:x + options.crop]
        crops.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
    return torch.from_numpy(np.stack(crops).transpose(0, 3, 1, 2).copy()).float()


# ---- The two sides ---------------------------------------------------------------------------------

def rgb_stem(state: dict) -> BasicStem:
    """Detectron2's ``BasicStem`` (FrozenBN) with the source's ``stem.conv1.*`` weights (Detectron2 names);
    a norm without running statistics (MSRA's affine-only) gets mean 0 and variance 1."""
    if "stem.conv1.weight" not in state:
        raise ValueError("the source checkpoint has no RGB stem (stem.conv1.weight / conv1.weight): --fit-stem needs "
                         "an RGB ResNet (torchvision .pth or Detectron2 R-50.pkl), not a DCT classifier")
    stem = BasicStem(3, state["stem.conv1.weight"].shape[0], norm="FrozenBN").eval()
    n = stem.out_channels
    defaults = {"weight": np.ones(n), "bias": np.zeros(n), "running_mean": np.zeros(n), "running_var": np.ones(n)}
    with torch.no_grad():
        stem.conv1.weight.copy_(torch.as_tensor(state["stem.conv1.weight"]))
        for name, default in defaults.items():
            getattr(stem.conv1.norm, name).copy_(torch.as_tensor(state.get(f"stem.conv1.norm.{name}", default)))
    return stem.requires_grad_(False)


class _Affine(nn.Module):
    """A per-channel scale and shift: FrozenBN's function with trainable weight/bias, for the fit."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight[:, None, None] + self.bias[:, None, None]


def _trainable_stem(cfg, channels: int) -> nn.Module:
    """The config's DCT stem (:func:`~freqdet.detection.backbone.dct_stem`) with each norm swapped for one
    that trains: FrozenBN -> :class:`_Affine`, (Sync)BN -> ``nn.BatchNorm2d``; GN stays."""
    stem = dct_stem(cfg, channels)
    for name, module in list(stem.named_modules()):
        if isinstance(module, FrozenBatchNorm2d):
            new = _Affine(module.num_features)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):  # BN, SyncBN, naiveSyncBN
            new = nn.BatchNorm2d(module.num_features, eps=module.eps)
        else:
            continue
        parent, _, attr = name.rpartition(".")
        setattr(stem.get_submodule(parent), attr, new)
    return stem


_NORMS = (_Affine, nn.GroupNorm, nn.modules.batchnorm._BatchNorm)


@torch.no_grad()
def _data_init(stem: nn.Module, x: torch.Tensor, target: torch.Tensor) -> None:
    """Start each norm where it belongs on data ``x``: an :class:`_Affine` standardises its input (as a BN
    would at the start), and the last norm (the one before the final ReLU) outputs the target's
    per-channel mean and std. From the default init a two-layer stem's output is several times the
    target's scale and Adam spends hundreds of steps just shrinking it."""
    norms = [m for m in stem.modules() if isinstance(m, _NORMS)]
    for i, norm in enumerate(norms):
        if isinstance(norm, _Affine):
            seen = []
            handle = norm.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
            stem(x)
            handle.remove()
            z = seen[0].transpose(0, 1).flatten(1)
            m, sd = z.mean(1), z.std(1).clamp_min(1e-6)
            norm.weight.copy_(1 / sd)
            norm.bias.copy_(-m / sd)
        if i == len(norms) - 1 and norm.weight is not None:
            t = target.transpose(0, 1).flatten(1)
            norm.weight.mul_(t.std(1))
            norm.bias.mul_(t.std(1)).add_(t.mean(1))


def _export_stem(stem: nn.Module, prefix: str = "stem.") -> dict:
    """``stem.body.*`` arrays in the layout of the config's norm: an :class:`_Affine` becomes FrozenBN
    weight/bias with running mean 0 and variance 1 - eps (scale exactly 1)."""
    out = {}
    for name, module in stem.named_modules():
        if isinstance(module, _Affine):
            eps = FrozenBatchNorm2d(1).eps
            n = module.weight.numel()
            out.update({f"{prefix}{name}.weight": module.weight, f"{prefix}{name}.bias": module.bias,
                        f"{prefix}{name}.running_mean": torch.zeros(n), f"{prefix}{name}.running_var": torch.ones(n) - eps})
    for k, v in stem.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            out.setdefault(prefix + k, v)
    return {k: v.detach().cpu().numpy().copy() for k, v in out.items()}


class _Pair(nn.Module):
    """Image batch -> (normalised DCT input of the stem, RGB stem output on the same grid)."""

    def __init__(self, cfg, source: RGBInput, stem: BasicStem, mean, std):
        super().__init__()
        spec = input_spec(cfg)
        self.dct = BlockDCT(spec.channels, spec.upsample, "RGB")
        self.upsample = spec.upsample
        self.register_buffer("dct_mean", torch.tensor(mean, dtype=torch.float32)[:, None, None])
        self.register_buffer("dct_std", torch.tensor(std, dtype=torch.float32)[:, None, None])
        self.bgr = source.format == "BGR"
        self.register_buffer("rgb_mean", torch.tensor(source.mean, dtype=torch.float32)[:, None, None])
        self.register_buffer("rgb_std", torch.tensor(source.std, dtype=torch.float32)[:, None, None])
        self.rgb_stem = stem

    @torch.no_grad()
    def forward(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (self.dct(rgb) - self.dct_mean) / self.dct_std
        image = rgb if self.upsample == 2 else F.avg_pool2d(rgb, 2)  # s/2 = 1/2: INTER_AREA's exact halving
        if self.bgr:
            image = image.flip(1)
        return x, self.rgb_stem((image - self.rgb_mean) / self.rgb_std)


def r2_per_channel(predict: Callable, pair: _Pair, images: Sequence[np.ndarray]) -> np.ndarray:
    """R^2 of ``predict(dct)`` against the RGB stem per channel, pooled over all cells of ``images``
    (NaN for a channel constant on them)."""
    n, sse, total, sq = 0, 0.0, 0.0, 0.0
    with torch.no_grad():
        for image in images:
            x, target = pair(torch.from_numpy(image.transpose(2, 0, 1).copy()).float()[None])
            pred, t = predict(x).double(), target.double()
            n += t.shape[0] * t.shape[2] * t.shape[3]
            sse = sse + ((pred - t) ** 2).sum((0, 2, 3))
            total, sq = total + t.sum((0, 2, 3)), sq + (t ** 2).sum((0, 2, 3))
    sst = (sq - total ** 2 / n).numpy()
    sse = np.asarray(sse)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sst > 1e-9 * max(float(sst.max()), 1e-30), 1.0 - sse / sst, np.nan)


# ---- The fit ---------------------------------------------------------------------------------------

def _stats_or_error(cfg, config_file: str):
    path = cfg.MODEL.PIXEL_STATS_FILE
    if path and not os.path.isfile(path):
        raise ValueError(
            f"MODEL.PIXEL_STATS_FILE={path!r} does not exist: the fitted stem takes the DCT input normalised with "
            f"these statistics. Compute them first: python tools/compute_dct_stats.py --config-file {config_file} "
            f"--dataset <your training set> --output {path}")
    return dct_pixel_stats(cfg)


def fit_dct_stem(state: dict, cfg, image_dir: str, source: RGBInput, options: Optional[FitOptions] = None,
                 config_file: str = "<config>", progress: bool = True) -> tuple[dict, dict]:
    """Fit the stem of ``cfg`` (``MODEL.DCT_STEM``) to the RGB stem of ``state`` (Detectron2 names) on the
    images under ``image_dir``. Returns ``(stem weights named stem.body.*, report)``; the report holds the
    held-out per-channel R^2 and what was fitted on."""
    options = options or FitOptions()
    options.check()
    name = cfg.MODEL.DCT_STEM.NAME
    if name == "none":
        raise ValueError("MODEL.DCT_STEM.NAME is 'none' (no stem to fit); --fit-stem needs a learned stem: "
                         "set MODEL.DCT_STEM.NAME conv2 (or conv, luma_chroma) in the config or as an override")
    rgb = rgb_stem(state)
    mean, std = _stats_or_error(cfg, config_file)
    files = list_images(image_dir)
    if options.max_images and len(files) > options.max_images:
        files = sorted(np.random.default_rng(options.seed).choice(files, options.max_images, replace=False).tolist())
    train_files, held_files = split_images(files, options.held_out, options.seed)
    torch.manual_seed(options.seed)
    spec = input_spec(cfg)
    stem = _trainable_stem(cfg, spec.num_channels)
    if stem.out_channels != rgb.out_channels:
        raise ValueError(f"MODEL.DCT_STEM.OUT_CHANNELS={stem.out_channels} but the RGB stem has "
                         f"{rgb.out_channels} channels (res2 takes those): set them equal")
    pair = _Pair(cfg, source, rgb, mean, std)
    load = tqdm(files, desc="reading images", disable=not progress, leave=False)
    images = {f: prepare_image(f, options.fit_size) for f in load}
    train, held = [images[f] for f in train_files], [images[f] for f in held_files]
    rng = np.random.default_rng(options.seed)
    started = time.perf_counter()

    # Per-channel scale of the target: the loss is then the mean of 1 - R^2 over channels.
    with torch.no_grad():
        targets = torch.cat([pair(_random_crops(train, options, rng))[1] for _ in range(4)])
        scale = targets.transpose(0, 1).reshape(targets.shape[1], -1).std(1)
        scale = scale.clamp_min(1e-3 * float(scale.max()) + 1e-12)[:, None, None]

    stem.train()
    _data_init(stem, *pair(_random_crops(train, options, rng)))
    optimizer = torch.optim.Adam(stem.parameters(), lr=options.lr)
    warmup, n = max(1, options.iterations // 20), options.iterations  # linear warm-up, cosine decay to 0
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: min(1.0, (i + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * i / n)))
    bar = tqdm(range(options.iterations), desc=f"fitting the {name} stem", disable=not progress)
    for it in bar:
        x, target = pair(_random_crops(train, options, rng))
        loss = (((stem(x) - target) / scale) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if it % 20 == 0 or it == options.iterations - 1:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    final_loss = loss.item()
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in stem.modules()):
        update_bn_stats(stem, (pair(_random_crops(train, options, rng))[0] for _ in range(50)), 50)
    stem.eval()
    r2 = r2_per_channel(stem, pair, held)
    report = _report(cfg, source, options, image_dir, train_files, held_files, final_loss, r2)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return _export_stem(stem), report


def _report(cfg, source, options, image_dir, train_files, held_files, final_loss, r2) -> dict:
    """What the fit's JSON records: the stem, input, settings, images, and the held-out R^2 (None: a
    channel constant on the held-out images)."""
    finite = r2[np.isfinite(r2)]
    spec = input_spec(cfg)
    return {
        "stem": cfg.MODEL.DCT_STEM.NAME, "kernel": cfg.MODEL.DCT_STEM.KERNEL, "norm": cfg.MODEL.RESNETS.NORM,
        "channels": list(spec.channels), "upsample": spec.upsample, "pixel_stats_file": cfg.MODEL.PIXEL_STATS_FILE,
        "source_input": asdict(source), "options": asdict(options),
        "images": {"folder": image_dir, "train": len(train_files), "held_out": len(held_files),
                   "held_out_files": held_files},
        "iterations": options.iterations, "final_train_loss": final_loss,
        "r2": {"mean": float(finite.mean()) if finite.size else None,
               "min": float(finite.min()) if finite.size else None,
               "constant_channels": int(r2.size - finite.size),
               "per_channel": [None if not np.isfinite(v) else float(v) for v in r2]},
    }


def fitted_stem_backbone(state: dict, cfg, image_dir: str, source: RGBInput, options: Optional[FitOptions] = None,
                         config_file: str = "<config>", progress: bool = True) -> tuple[dict, dict]:
    """A DCT backbone for ``cfg``: res2..res5 of the RGB ResNet ``state`` (any naming
    :func:`~freqdet.detection.weights.load_state_dict` reads) unchanged, the stem fitted
    (:func:`fit_dct_stem`). Returns ``(weights for save_detectron2_pkl, report)``."""
    state = torchvision_to_detectron2(state)
    if "res2.0.conv1.weight" not in state:
        raise ValueError("the source checkpoint has no res2.0.conv1.weight: is it a ResNet with Detectron2 or "
                         "torchvision names?")
    stem, report = fit_dct_stem(state, cfg, image_dir, source, options, config_file, progress)
    res = {k: v for k, v in state.items() if k.startswith("res")}
    return {**res, **stem}, report
