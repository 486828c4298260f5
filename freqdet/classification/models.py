"""Frequency-domain ImageNet classifiers: torchvision's ResNet-50 / MobileNetV2, input layers changed.

As in the paper (Xu et al., CVPR 2020, Sec. 3.3), the DCT grid already has stride 8, so
the layers that downsample RGB to that stride are dropped and the first remaining block
takes the C selected frequency channels:

- ResNet-50: no ``conv1``/``bn1``/``relu``/``maxpool``; ``layer1`` takes C channels
  (a 448x448 image gives 56x56xC, the size layer1 sees for a 224x224 RGB image).
- MobileNetV2: the stride-2 first conv (``features.0``) becomes an identity; the first
  inverted-residual block (``features.1``) takes C channels (112x112xC from 896, 56x56 from 448).

Every other module, and its state-dict key, is torchvision's, so weights move between
these models, torchvision checkpoints and the detection backbone by name.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torchvision.models import mobilenet_v2, resnet50
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.resnet import Bottleneck, ResNet

from freqdet.core import NUM_CHANNELS, parse_channels
from freqdet.core.channels import ChannelSpec
from freqdet.core.torch_dct import BlockDCT
from freqdet.core.gate import FrequencyGate

__all__ = ["ResNetDCT", "MobileNetV2DCT", "resnet50_dct", "mobilenet_v2_dct", "build_classifier", "ARCHS"]


def _gate_input(channels: ChannelSpec, gate: bool, gate_kwargs: Optional[dict]) -> tuple[int, Optional[nn.Module]]:
    """Input channel count and optional gate: a gated model sees all 192 channels (the paper's Fig. 4)."""
    if not gate:
        if gate_kwargs:
            raise ValueError("gate_kwargs given without gate=True")
        return len(parse_channels(channels)), None
    if channels not in (None, "192", 192) and len(parse_channels(channels)) != NUM_CHANNELS:
        raise ValueError(f"gate=True selects channels itself from all {NUM_CHANNELS}; got channels={channels!r}")
    return NUM_CHANNELS, FrequencyGate(NUM_CHANNELS, **(gate_kwargs or {}))


class _GatedInput:
    """Mixin: apply ``self.gate`` (when present) to the input and expose its loss."""

    def _apply_gate(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.gate is None else self.gate(x)

    def auxiliary_losses(self) -> dict:
        """``{"loss_gate": lambda * fraction of channels on}`` for a gated model in training, else ``{}``."""
        if self.gate is None or not self.training:
            return {}
        return {"loss_gate": self.gate.gate_loss()}


class DCTInput(nn.Module):
    """uint8 RGB ``(N, 3, H, W)`` -> normalised DCT ``(N, C, H/8, W/8)`` on the model's device.

    With it (``--dct-on-device``) the loader ships RGB bytes and the CPU does no DCT. Its
    buffers are not saved, so checkpoints are the network's alone either way.
    """

    def __init__(self, channels: ChannelSpec, mean, std):
        super().__init__()
        self.dct = BlockDCT(channels, upsample=1, input_format="RGB")
        shape = (1, self.dct.num_channels, 1, 1)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(shape), persistent=False)
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).reshape(shape), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (self.dct(images) - self.mean) / self.std


def _init_like_torchvision(module: nn.Module) -> None:
    """The initialisation torchvision's ResNet applies in its constructor."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


class ResNetDCT(_GatedInput, ResNet):
    """torchvision ResNet whose stem is the DCT grid itself: ``layer1`` takes C channels.

    Input ``(N, C, h, w)`` normalised DCT coefficients; output ``(N, num_classes)`` logits.
    With a ``gate`` (a :class:`FrequencyGate` over 192 channels) the input passes it first.
    """

    def __init__(self, in_channels: int, layers=(3, 4, 6, 3), num_classes: int = 1000,
                 zero_init_residual: bool = False, gate: Optional[nn.Module] = None):
        super().__init__(Bottleneck, list(layers), num_classes=num_classes,
                         zero_init_residual=zero_init_residual)
        self.in_channels = in_channels
        self.gate = gate
        del self.conv1, self.bn1, self.relu, self.maxpool
        # Rebuild layer1 with C input planes; _make_layer adds the 1x1 projection shortcut
        # (downsample) because C != 256, exactly as torchvision does for its 64-plane stem.
        self.inplanes = in_channels
        self.layer1 = self._make_layer(Bottleneck, 64, layers[0])
        _init_like_torchvision(self.layer1)
        if zero_init_residual:
            for m in self.layer1.modules():
                if isinstance(m, Bottleneck):
                    nn.init.constant_(m.bn3.weight, 0)
        self.inplanes = 512 * Bottleneck.expansion

    def _forward_impl(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{type(self).__name__} expects (N, {self.in_channels}, h, w) DCT input, "
                             f"got {tuple(x.shape)}")
        x = self._apply_gate(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class MobileNetV2DCT(_GatedInput, nn.Module):
    """torchvision MobileNetV2 without its stride-2 first conv; ``features.1`` takes C channels.

    ``features.0`` is kept as an ``nn.Identity`` so the remaining keys keep torchvision's indices.
    """

    def __init__(self, in_channels: int, num_classes: int = 1000, width_mult: float = 1.0,
                 gate: Optional[nn.Module] = None):
        super().__init__()
        self.gate = gate
        base = mobilenet_v2(weights=None, num_classes=num_classes, width_mult=width_mult)
        first = base.features[1]  # InvertedResidual(32*w -> 16*w, stride 1, expand_ratio 1)
        out_channels = first.out_channels
        base.features[0] = nn.Identity()
        block = InvertedResidual(in_channels, out_channels, stride=1, expand_ratio=1)
        _init_like_torchvision(block)
        base.features[1] = block
        self.in_channels = in_channels
        self.features = base.features
        self.classifier = base.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{type(self).__name__} expects (N, {self.in_channels}, h, w) DCT input, "
                             f"got {tuple(x.shape)}")
        x = nn.functional.adaptive_avg_pool2d(self.features(self._apply_gate(x)), 1)
        return self.classifier(torch.flatten(x, 1))


def resnet50_dct(channels: ChannelSpec = "24", num_classes: int = 1000, gate: bool = False,
                 gate_kwargs: Optional[dict] = None, **kwargs) -> ResNetDCT:
    """ResNet-50 on a static DCT channel subset (``freqdet.core.parse_channels`` spec), or on
    all 192 channels behind a learned gate (``gate=True``; ``gate_kwargs`` go to FrequencyGate)."""
    c, g = _gate_input(channels, gate, gate_kwargs)
    return ResNetDCT(c, num_classes=num_classes, gate=g, **kwargs)


def mobilenet_v2_dct(channels: ChannelSpec = "24", num_classes: int = 1000, gate: bool = False,
                     gate_kwargs: Optional[dict] = None, **kwargs) -> MobileNetV2DCT:
    """MobileNetV2 on a static DCT channel subset, or on all 192 channels behind a learned gate."""
    c, g = _gate_input(channels, gate, gate_kwargs)
    return MobileNetV2DCT(c, num_classes=num_classes, gate=g, **kwargs)


# name -> (builder, input domain). RGB baselines are torchvision's own models, unchanged.
ARCHS = {
    "resnet50_dct": (resnet50_dct, "dct"),
    "mobilenet_v2_dct": (mobilenet_v2_dct, "dct"),
    "resnet50": (resnet50, "rgb"),
    "mobilenet_v2": (mobilenet_v2, "rgb"),
}


def build_classifier(arch: str, num_classes: int, channels: ChannelSpec = "24", gate: bool = False,
                     gate_kwargs: Optional[dict] = None) -> nn.Module:
    """Build any ``ARCHS`` entry; DCT models take ``channels``/``gate``, RGB ones ignore them."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
    builder, domain = ARCHS[arch]
    if domain == "dct":
        return builder(channels="192" if gate else channels, num_classes=num_classes, gate=gate,
                       gate_kwargs=gate_kwargs)
    if gate:
        raise ValueError(f"gate=True applies to DCT models only, not {arch!r}")
    return builder(weights=None, num_classes=num_classes)
