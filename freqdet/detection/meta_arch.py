"""GeneralizedRCNN on DCT inputs: normalize C channels, pad on the DCT grid, report pixel sizes."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec, shapes_to_tensor
from detectron2.modeling import (
    META_ARCH_REGISTRY, GeneralizedRCNN, build_backbone, build_proposal_generator, build_roi_heads,
)
from detectron2.structures import ImageList

from freqdet.core import NUM_CHANNELS, dct_to_image
from freqdet.core.gate import FrequencyGate
from freqdet.core.input_spec import InputSpec
from freqdet.core.stats import load_dct_stats
from freqdet.core.torch_dct import BlockDCT

from .config import check_config, check_gate_channels, check_pixel_stats_keys, input_spec
from .stats import check_stats_input

__all__ = ["FreqRCNN", "build_frequency_gate", "dct_pixel_stats"]


def dct_pixel_stats(cfg) -> tuple[list[float], list[float]]:
    """(mean, std) of the selected channels: from MODEL.PIXEL_STATS_FILE, else PIXEL_MEAN/STD.

    A file is checked against what the config's input is (s, FROM_SOURCE, the training
    augmentation: :func:`freqdet.detection.stats.check_stats_input`); which dataset it describes
    is checked where the dataset is known, by tools/train_net.py's statistics step."""
    spec = input_spec(cfg)
    if cfg.MODEL.PIXEL_STATS_FILE:
        check_stats_input(cfg)
        return load_dct_stats(cfg.MODEL.PIXEL_STATS_FILE, spec.channels, upsample=spec.upsample)
    check_pixel_stats_keys(cfg, spec)
    return list(cfg.MODEL.PIXEL_MEAN), list(cfg.MODEL.PIXEL_STD)


def build_frequency_gate(cfg) -> Optional[FrequencyGate]:
    """The gate of MODEL.FREQ_GATE, or None when disabled; it selects among all 192 channels."""
    g = cfg.MODEL.FREQ_GATE
    if not g.ENABLED:
        return None
    check_gate_channels(cfg, input_spec(cfg))
    return FrequencyGate(NUM_CHANNELS, norm=g.NORM, tau=g.TAU, loss_weight=g.LAMBDA, init_on_logit=g.INIT_ON_LOGIT,
                         grad_scale=g.GRAD_SCALE, inference=g.INFERENCE)


@META_ARCH_REGISTRY.register()
class FreqRCNN(GeneralizedRCNN):
    """Mask/Faster R-CNN whose ``image`` inputs are DCT tensors ``(C, H*s/8, W*s/8)``.

    Only :meth:`preprocess_image` differs from :class:`GeneralizedRCNN`: it pads on the DCT
    grid (the backbone's pixel size divisibility divided by its input stride 8/s) and
    returns an :class:`ImageList` whose ``image_sizes`` are the augmented images' *pixel*
    sizes, so anchors, proposals, boxes and masks live in pixel coordinates and
    post-processing rescales them to the original image exactly as for the RGB model.
    """

    @configurable
    def __init__(self, *, input_spec: InputSpec, gate: Optional[FrequencyGate] = None, **kwargs):
        """``input_spec``: what the inputs hold (INPUT.DCT.*). With ``input_spec.on_device`` they are
        uint8 ``(3, H, W)`` images in ``input_format`` whose DCT the model computes on its device
        (``self.input_dct``); otherwise DCT tensors. ``gate``: optional :class:`FrequencyGate`
        applied to the normalized input (MODEL.FREQ_GATE)."""
        super().__init__(**kwargs)
        self.input_spec = input_spec
        self.gate = gate
        self.input_dct = (BlockDCT(input_spec.channels, input_spec.upsample, self.input_format)
                          if input_spec.on_device else None)
        div, stride = self.backbone.size_divisibility, input_spec.stride
        if div % stride:
            raise ValueError(f"backbone size divisibility {div} is not a multiple of the DCT stride {stride}")
        self.grid_divisibility = div // stride  # padding on the DCT grid

    @classmethod
    def from_config(cls, cfg):
        # Every config check before the (slow) network build, so a typo costs no time.
        spec = check_config(cfg)
        mean, std = dct_pixel_stats(cfg)
        gate = build_frequency_gate(cfg)
        # GeneralizedRCNN sizes the backbone input from len(PIXEL_MEAN); here it is C.
        backbone = build_backbone(cfg, ShapeSpec(channels=len(mean)))
        return {
            "backbone": backbone,
            "proposal_generator": build_proposal_generator(cfg, backbone.output_shape()),
            "roi_heads": build_roi_heads(cfg, backbone.output_shape()),
            "input_format": cfg.INPUT.FORMAT,
            "vis_period": cfg.VIS_PERIOD,
            "pixel_mean": mean,
            "pixel_std": std,
            "gate": gate,
            "input_spec": spec,
        }

    @torch.jit.unused  # scripting exports inference() (Detectron2's ScriptableAdapter), not training
    def forward(self, batched_inputs: List[Dict[str, torch.Tensor]]):
        """GeneralizedRCNN's forward, plus ``loss_gate`` in training when the gate is on."""
        out = super().forward(batched_inputs)
        if self.training and self.gate is not None:
            out["loss_gate"] = self.gate.gate_loss()
        return out

    def input_as_image(self, x: Dict) -> torch.Tensor:
        """uint8 ``(3, H, W)`` image (``input_format``) rebuilt from one input's DCT channels,
        the others zero: the low-pass view the backbone gets, at the pixel size boxes live in."""
        coeffs = x["image"]
        if self.input_dct is not None:  # uint8 image in; the model's own DCT of it is what it sees
            coeffs = self.input_dct(coeffs[None].to(self.input_dct.weight.device))[0]
        image = dct_to_image(coeffs.detach().float().cpu().numpy(), self.input_spec.channels, self.input_format,
                             self.input_spec.upsample, self._pixel_size(x))
        return torch.from_numpy(image).permute(2, 0, 1)

    def visualize_training(self, batched_inputs, proposals):
        """Detectron2's picture (GT boxes | top proposals, EventStorage.put_image every VIS_PERIOD),
        drawn on :meth:`input_as_image` of the first image instead of on RGB pixels."""
        first = {**batched_inputs[0], "image": self.input_as_image(batched_inputs[0])}
        super().visualize_training([first], proposals[:1])

    @torch.jit.unused
    def _pixel_size(self, x: Dict):
        """(h, w) in pixels of the augmented image; a tensor while tracing, as in ImageList."""
        tracing = torch.jit.is_tracing()
        if "image_size" in x:
            size = x["image_size"]
            if tracing and isinstance(size, torch.Tensor):
                return size  # a graph input of the exported model, not a constant
            return tuple(int(v) for v in size)
        if "instances" in x:
            return tuple(x["instances"].image_size)
        if self.input_dct is not None:  # pixels in (on-device DCT): the image is its own size
            return shapes_to_tensor(x["image"].shape[-2:]) if tracing else tuple(x["image"].shape[-2:])
        raise KeyError("FreqRCNN inputs need 'image_size' (pixel size of the augmented image); use DCTDatasetMapper")

    def preprocess_image(self, batched_inputs: List[Dict[str, torch.Tensor]]):
        """(DCT on device,) normalize, pad on the DCT grid and batch; image sizes in pixels."""
        images = [self._move_to_current_device(x["image"]) for x in batched_inputs]
        if self.input_dct is not None:
            if images[0].shape[0] != 3:
                raise ValueError(
                    f"INPUT.DCT.ON_DEVICE expects (3, H, W) images, got {list(images[0].shape)}: "
                    "build the mapper from the same config as the model"
                )
            images = [self.input_dct(x[None])[0] for x in images]
        images = [x.float() for x in images]
        if images[0].shape[0] != self.pixel_mean.shape[0]:
            raise ValueError(
                f"input has {images[0].shape[0]} channels, the model's statistics {self.pixel_mean.shape[0]}"
            )
        images = [(x - self.pixel_mean) / self.pixel_std for x in images]
        padded = ImageList.from_tensors(images, self.grid_divisibility)
        tensor = padded.tensor
        if self.gate is not None:
            # Channel means over each image's own extent, not over the batch padding.
            tensor = self.gate(tensor, pooled=torch.stack([x.mean(dim=(1, 2)) for x in images]))
        if torch.jit.is_scripting():
            return ImageList(tensor, [self._scripted_pixel_size(x) for x in batched_inputs])
        else:
            return ImageList(tensor, [self._pixel_size(x) for x in batched_inputs])

    def _scripted_pixel_size(self, x: Dict[str, torch.Tensor]) -> Tuple[int, int]:
        """:meth:`_pixel_size` for TorchScript, whose inputs are Dict[str, Tensor] (no Instances)."""
        if "image_size" in x:
            size = x["image_size"]
            return int(size[0]), int(size[1])
        if self.input_dct is None:
            raise ValueError("FreqRCNN inputs need 'image_size' (pixel size of the augmented image)")
        return x["image"].shape[-2], x["image"].shape[-1]
