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

A learned stem (``stem="conv"``, ``"conv2"``, ``"luma_chroma"``: :mod:`freqdet.core.stems`, with
BatchNorm as torchvision) instead maps the C channels to the width the RGB network has at that
point (64 into ResNet's ``layer1``, ``32 * width_mult`` into MobileNetV2's ``features.1``), so
those blocks stay torchvision's own, RGB-pretrained weights included. It is the module
``dct_stem`` (keys ``dct_stem.*``: not ``stem.*``, which weight converters read as Detectron2's RGB
stem); the gate, when present, runs before it.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn
from torchvision.models import mobilenet_v2, resnet50
from torchvision.models.mobilenetv2 import InvertedResidual
from torchvision.models.resnet import Bottleneck, ResNet

from freqdet.core import NUM_CHANNELS, parse_channels
from freqdet.core.channels import ChannelSpec
from freqdet.core.torch_dct import BlockDCT
from freqdet.core.gate import FrequencyGate
from freqdet.core.stems import build_dct_stem, stem_out_channels

__all__ = ["ResNetDCT", "MobileNetV2DCT", "resnet50_dct", "mobilenet_v2_dct", "build_classifier", "ARCHS"]


def _gate_input(channels: ChannelSpec, gate: bool, gate_kwargs: Optional[dict]) -> tuple[list[int], Optional[nn.Module]]:
    """Input channel indices and optional gate: a gated model sees all 192 channels (the paper's Fig. 4)."""
    if not gate:
        if gate_kwargs:
            raise ValueError("gate_kwargs given without gate=True")
        return parse_channels(channels), None
    if channels not in (None, "192", 192) and len(parse_channels(channels)) != NUM_CHANNELS:
        raise ValueError(f"gate=True selects channels itself from all {NUM_CHANNELS}; got channels={channels!r}")
    return list(range(NUM_CHANNELS)), FrequencyGate(NUM_CHANNELS, **(gate_kwargs or {}))


def _learned_stem(name: str, in_channels: int, channel_ids: Optional[Sequence[int]], width: int,
                  kernel: int) -> Optional[nn.Module]:
    """The learned stem ``name`` to ``width`` channels with BatchNorm (torchvision's norm), or None for
    ``"none"``; ``channel_ids`` (default ``0..C-1``) tell luma from chroma."""
    stem_out_channels(name, in_channels, width)  # an unknown name fails here, "none" included
    if name == "none":
        return None
    ids = list(range(in_channels)) if channel_ids is None else list(channel_ids)
    if len(ids) != in_channels:
        raise ValueError(f"got {len(ids)} channel_ids for {in_channels} input channels")
    return build_dct_stem(name, ids, width, kernel, norm=nn.BatchNorm2d)


def _check_input(model: nn.Module, x: torch.Tensor) -> None:
    if x.dim() != 4 or x.shape[1] != model.in_channels:
        raise ValueError(f"{type(model).__name__} expects (N, {model.in_channels}, h, w) DCT input, "
                         f"got {tuple(x.shape)}")


class _GatedInput:
    """Mixin: apply ``self.gate`` then ``self.dct_stem`` (each when present) and expose the gate's loss."""

    def _input_layers(self, x: torch.Tensor) -> torch.Tensor:
        x = x if self.gate is None else self.gate(x)
        return x if self.dct_stem is None else self.dct_stem(x)

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
    A learned ``stem`` (``stem_kernel``; ``channel_ids``: the input's absolute channel indices)
    maps C to 64 channels instead, and ``layer1`` is torchvision's, unchanged.
    """

    def __init__(self, in_channels: int, layers=(3, 4, 6, 3), num_classes: int = 1000,
                 zero_init_residual: bool = False, gate: Optional[nn.Module] = None, stem: str = "none",
                 stem_kernel: int = 3, channel_ids: Optional[Sequence[int]] = None):
        super().__init__(Bottleneck, list(layers), num_classes=num_classes,
                         zero_init_residual=zero_init_residual)
        self.in_channels = in_channels
        self.gate = gate
        del self.conv1, self.bn1, self.relu, self.maxpool
        # The width torchvision's layer1 takes from the RGB stem (64).
        self.dct_stem = _learned_stem(stem, in_channels, channel_ids, self.layer1[0].conv1.in_channels, stem_kernel)
        if self.dct_stem is None:
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
        _check_input(self, x)
        x = self._input_layers(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class MobileNetV2DCT(_GatedInput, nn.Module):
    """torchvision MobileNetV2 without its stride-2 first conv; ``features.1`` takes C channels.

    ``features.0`` is kept as an ``nn.Identity`` so the remaining keys keep torchvision's indices.
    A learned ``stem`` maps C to the RGB first conv's ``32 * width_mult`` channels instead, and
    ``features.1`` is torchvision's, unchanged.
    """

    def __init__(self, in_channels: int, num_classes: int = 1000, width_mult: float = 1.0,
                 gate: Optional[nn.Module] = None, stem: str = "none", stem_kernel: int = 3,
                 channel_ids: Optional[Sequence[int]] = None):
        super().__init__()
        self.gate = gate
        base = mobilenet_v2(weights=None, num_classes=num_classes, width_mult=width_mult)
        self.dct_stem = _learned_stem(stem, in_channels, channel_ids, base.features[0].out_channels, stem_kernel)
        base.features[0] = nn.Identity()
        if self.dct_stem is None:
            first = base.features[1]  # InvertedResidual(32*w -> 16*w, stride 1, expand_ratio 1)
            block = InvertedResidual(in_channels, first.out_channels, stride=1, expand_ratio=1)
            _init_like_torchvision(block)
            base.features[1] = block
        self.in_channels = in_channels
        self.features = base.features
        self.classifier = base.classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(self, x)
        x = nn.functional.adaptive_avg_pool2d(self.features(self._input_layers(x)), 1)
        return self.classifier(torch.flatten(x, 1))


def resnet50_dct(channels: ChannelSpec = "24", num_classes: int = 1000, gate: bool = False,
                 gate_kwargs: Optional[dict] = None, stem: str = "none", stem_kernel: int = 3,
                 **kwargs) -> ResNetDCT:
    """ResNet-50 on a static DCT channel subset (``freqdet.core.parse_channels`` spec), or on
    all 192 channels behind a learned gate (``gate=True``; ``gate_kwargs`` go to FrequencyGate),
    with the paper's identity stem or a learned one (``stem``, ``stem_kernel``)."""
    ids, g = _gate_input(channels, gate, gate_kwargs)
    return ResNetDCT(len(ids), num_classes=num_classes, gate=g, stem=stem, stem_kernel=stem_kernel,
                     channel_ids=ids, **kwargs)


def mobilenet_v2_dct(channels: ChannelSpec = "24", num_classes: int = 1000, gate: bool = False,
                     gate_kwargs: Optional[dict] = None, stem: str = "none", stem_kernel: int = 3,
                     **kwargs) -> MobileNetV2DCT:
    """MobileNetV2 on a static DCT channel subset, or on all 192 channels behind a learned gate,
    with the identity stem or a learned one."""
    ids, g = _gate_input(channels, gate, gate_kwargs)
    return MobileNetV2DCT(len(ids), num_classes=num_classes, gate=g, stem=stem, stem_kernel=stem_kernel,
                          channel_ids=ids, **kwargs)


# name -> (builder, input domain). RGB baselines are torchvision's own models, unchanged.
ARCHS = {
    "resnet50_dct": (resnet50_dct, "dct"),
    "mobilenet_v2_dct": (mobilenet_v2_dct, "dct"),
    "resnet50": (resnet50, "rgb"),
    "mobilenet_v2": (mobilenet_v2, "rgb"),
}


def build_classifier(arch: str, num_classes: int, channels: ChannelSpec = "24", gate: bool = False,
                     gate_kwargs: Optional[dict] = None, stem: str = "none", stem_kernel: int = 3) -> nn.Module:
    """Build any ``ARCHS`` entry; DCT models take ``channels``/``gate``/``stem``, RGB ones ignore
    ``channels`` and refuse a gate or a learned stem (they have their own RGB stem)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
    builder, domain = ARCHS[arch]
    if domain == "dct":
        return builder(channels="192" if gate else channels, num_classes=num_classes, gate=gate,
                       gate_kwargs=gate_kwargs, stem=stem, stem_kernel=stem_kernel)
    if gate:
        raise ValueError(f"gate=True applies to DCT models only, not {arch!r}")
    if stem != "none":
        raise ValueError(f"stem={stem!r} applies to DCT models only; {arch!r} keeps its RGB stem")
    return builder(weights=None, num_classes=num_classes)
