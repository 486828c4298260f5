"""Turn ResNet-50 checkpoints into DCT-backbone initialisations (Detectron2 .pkl).

One path for every source: read the state dict (torchvision ``.pth``, Detectron2 or
Caffe2 ``.pkl``, a freqdet DCT classifier, the paper's released ``ResNetDCT_Upscaled_Static``
classifiers), rename torchvision keys to Detectron2's (``layer1`` -> ``res2``, ``bn1`` ->
``conv1.norm``, ``downsample`` -> ``shortcut``; the paper's ``model.0..3`` are ``layer1..4``), drop the
RGB stem and the classifier head, then adapt res2's first block to C input channels as
the paper's code does: an RGB source keeps its first C input channels when C < 64 (and
all of them when C == 64); C > 64 starts those two convolutions from a fresh init.
The output loads with ``DetectionCheckpointer`` (``matching_heuristics``), so it fits
the FPN and the plain backbone alike.
"""
from __future__ import annotations

import pickle
import re

import numpy as np
import torch

from freqdet.core.safe_load import safe_pickle_load, safe_torch_load

__all__ = ["ADAPTED_KEYS", "convert_to_dct_backbone", "load_state_dict", "save_detectron2_pkl",
           "torchvision_to_detectron2"]

# res2's first block: the only weights whose input is the DCT tensor.
ADAPTED_KEYS = ("res2.0.conv1.weight", "res2.0.shortcut.weight")


def _to_numpy(v):
    return v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)


def load_state_dict(path: str) -> dict:
    """Name -> ndarray of a checkpoint file, unwrapping ``model``/``state_dict`` and ``module.``.

    Read without executing code (:mod:`freqdet.core.safe_load`); a file that needs it is refused."""
    # Neither path runs code from the file (freqdet.core.safe_load): weights only.
    if path.endswith(".pkl"):
        data = safe_pickle_load(path)
        if isinstance(data, dict) and "blobs" in data:
            data = data["blobs"]
    else:
        data = safe_torch_load(path)
    for key in ("model", "state_dict", "model_state"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
            break
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: no state dict found (expected a dict of weights, or one under 'model')")
    out = {}
    for k, v in data.items():
        if k.endswith(("_momentum", "num_batches_tracked")) or not hasattr(v, "shape"):
            continue
        out[k[len("module."):] if k.startswith("module.") else k] = _to_numpy(v)
    if all(k.startswith("net.") for k in out):  # tools/train_classifier.py's checkpoints: the network is .net
        out = {k[len("net."):]: v for k, v in out.items()}
    if any(k.endswith("_branch2a_w") for k in out):  # Caffe2 naming (Detectron2's R-50.pkl)
        from detectron2.checkpoint.c2_model_loading import convert_basic_c2_names

        out = dict(zip(convert_basic_c2_names(sorted(out)), (out[k] for k in sorted(out))))
    return out


_TV_LAYER = re.compile(r"^layer(\d)\.(\d+)\.(.+)$")
# The paper's ResNetDCT_Upscaled_Static: nn.Sequential(*resnet50.children()[4:-1]) as "model", so
# model.0..3 are layer1..4 (model.4, the average pool, has no weights); torchvision names inside.
_PAPER_LAYER = re.compile(r"^model\.([0-3])\.(\d+\..+)$")


def torchvision_to_detectron2(state: dict) -> dict:
    """Rename torchvision ResNet keys to Detectron2's; Detectron2 keys pass through.

    ``fc.*``/``linear.*`` (classifier) are dropped; ``gate.*`` (freqdet's channel gate) is kept.
    The paper's ``model.0..3.*`` (``ResNetDCT_Upscaled_Static``) are read as ``layer1..4.*``; a freqdet
    classifier's learned stem ``dct_stem.*`` becomes the detector's ``stem.body.*``.
    """
    out = {}
    for k, v in state.items():
        k = k.removeprefix("backbone.bottom_up.").removeprefix("backbone.")
        if k.startswith("dct_stem."):
            k = "stem.body." + k[len("dct_stem."):]
        if m := _PAPER_LAYER.match(k):
            k = f"layer{int(m[1]) + 1}.{m[2]}"
        if k.startswith(("fc.", "linear.")):
            continue
        if k == "conv1.weight":
            k = "stem.conv1.weight"
        elif k.startswith("bn1."):
            k = "stem.conv1.norm." + k[4:]
        elif m := _TV_LAYER.match(k):
            stage, block, rest = int(m[1]) + 1, m[2], m[3]
            rest = re.sub(r"^bn(\d)\.", r"conv\1.norm.", rest)
            rest = rest.replace("downsample.0.", "shortcut.").replace("downsample.1.", "shortcut.norm.")
            k = f"res{stage}.{block}.{rest}"
        elif not k.startswith(("stem.", "res", "gate.")):
            raise ValueError(f"unexpected key {k!r}: not a torchvision or Detectron2 ResNet weight")
        out[k] = v
    return out


def convert_to_dct_backbone(state: dict, channels: int, source: str = "checkpoint") -> tuple[dict, list[str]]:
    """Detectron2-named ResNet weights for a DCT input of ``channels`` channels.

    Returns ``(weights, notes)``; ``notes`` say what was dropped or adapted.
    """
    state = torchvision_to_detectron2(state)
    missing = [k for k in ADAPTED_KEYS if k not in state]
    if missing:
        raise ValueError(f"{source}: no {missing} (is it a ResNet-50 with Detectron2 or torchvision names?)")
    rgb_stem = [k for k in state if k.startswith("stem.") and not k.startswith("stem.body.")]
    rgb, notes = bool(rgb_stem), []
    if rgb:
        notes.append(f"dropped the RGB stem ({len(rgb_stem)} tensors)")
        state = {k: v for k, v in state.items() if k not in rgb_stem}
    elif any(k.startswith("stem.body.") for k in state):  # a DCT classifier with a learned stem: res2 takes its width
        notes.append("kept the learned DCT stem (stem.body.*): set MODEL.DCT_STEM to the classifier's stem")
        return state, notes
    for key in ADAPTED_KEYS:
        w = state[key]
        cin = w.shape[1]
        if cin == channels:
            continue
        if not rgb:
            raise ValueError(
                f"{source}: {key} takes {cin} DCT channels but the target has {channels}; "
                "convert a classifier trained on the same channel subset"
            )
        if channels < cin:
            state[key] = np.ascontiguousarray(w[:, :channels])
            notes.append(f"{key}: kept the first {channels} of {cin} input channels")
        else:
            del state[key]
            notes.append(f"{key}: {channels} > {cin} input channels, left to the model's initialisation")
    return state, notes


def save_detectron2_pkl(weights: dict, path: str, author: str = "freqdet.convert_weights") -> None:
    """Write Detectron2's model-zoo format: loaded by name-suffix matching into any ResNet backbone."""
    with open(path, "wb") as f:
        pickle.dump({"model": weights, "__author__": author, "matching_heuristics": True}, f)
