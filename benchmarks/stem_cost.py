#!/usr/bin/env python
"""FLOPs and parameters (fvcore) of each learned DCT stem beside the RGB stem it stands in for.

Detector: Detectron2's BasicStem (7x7 conv stride 2, FrozenBN, ReLU, max-pool) on an 800x800
image vs each DCT stem (FrozenBN) on DCT-24 s=2 (grid 200x200), DCT-24 s=1 (100x100) and
DCT-64 s=2; the network column is the bottom-up ResNet-50 (stem + res2..res5, no FPN).
Classifiers: torchvision ResNet-50's conv1/bn1/relu/maxpool and MobileNetV2's features.0 at
224 vs the DCT-24 stems (BatchNorm) at 448 (grid 56) and, for MobileNetV2, 896 (grid 112); the
network column is the whole classifier. "none" is the paper's identity stem: it costs nothing
itself, but the first block then reads C channels instead of 64 (the network column shows both).

fvcore counts one fused multiply-add as one flop and counts convolutions, linear layers and
norms (an affine norm: 2 per element); ReLU, pooling and the DCT itself are not counted.

    python benchmarks/stem_cost.py --output docs/stem_cost.json
"""
import argparse
import json
import logging

import torch
import torchvision
from detectron2.modeling.backbone.resnet import BasicStem, ResNet
from fvcore.nn import FlopCountAnalysis, parameter_count
from torch import nn

from freqdet.classification import mobilenet_v2_dct, resnet50_dct
from freqdet.core import parse_channels
from freqdet.core.stems import STEMS
from freqdet.detection.backbone import DCTStem, make_dct_stages

CONVENTION = "fvcore: 1 multiply-add = 1 flop; convolutions, linear layers and norms counted, ReLU/pooling/DCT not"


class _Last(nn.Module):
    """A Detectron2 backbone's last feature map, so fvcore traces a tensor output."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, x):
        return list(self.backbone(x).values())[-1]


def count(module: nn.Module, shape) -> tuple[float, int]:
    """(flops, parameters) of ``module`` on one zero input of ``shape`` (C, H, W)."""
    module.eval()
    with torch.no_grad():
        flops = FlopCountAnalysis(module, torch.zeros(1, *shape))
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return float(flops.total()), parameter_count(module)[""]


def _row(model: str, stem: str, input_: str, in_shape, stem_module, network) -> dict:
    """One table row: the stem's cost on ``in_shape`` and (when ``network`` is given) the whole network's."""
    if stem_module is None:  # the identity stem
        flops, params, out = 0.0, 0, tuple(in_shape)
    else:
        flops, params = count(stem_module, in_shape)
        with torch.no_grad():
            out = tuple(stem_module(torch.zeros(1, *in_shape)).shape[1:])
    row = {"model": model, "stem": stem, "input": input_, "stem_input": list(in_shape), "stem_output": list(out),
           "stem_flops": flops, "stem_params": params}
    if network is not None:
        row["network_flops"], row["network_params"] = count(network, in_shape)
    return row


def _shape(text) -> str:
    return "×".join(str(v) for v in text)


def detector_rows(size: int, network: bool) -> list[dict]:
    rgb = BasicStem(3, 64, norm="FrozenBN")
    rows = [_row("Detector R50", "RGB BasicStem", f"RGB {size}×{size}", (3, size, size), rgb,
                 _Last(ResNet(rgb, ResNet.make_default_stages(50, norm="FrozenBN"), out_features=["res5"]))
                 if network else None)]
    for subset, s in (("24", 2), ("24", 1), ("64", 2)):
        ids = parse_channels(subset)
        grid = size * s // 8
        for name in STEMS:
            stem = DCTStem(len(ids), 8 // s, name, ids, 64, 3, "FrozenBN")
            net = _Last(ResNet(stem, make_dct_stages(50, stem.out_channels), out_features=["res5"])) if network else None
            rows.append(_row("Detector R50", name, f"DCT-{subset} s={s}, {size}×{size}", (len(ids), grid, grid),
                             None if name == "none" else stem, net))
    return rows


def classifier_rows(size: int, network: bool) -> list[dict]:
    c = len(parse_channels("24"))
    tv = torchvision.models.resnet50()
    rows = [_row("ResNet-50", "RGB conv1+bn1+maxpool", f"RGB {size}×{size}", (3, size, size),
                 nn.Sequential(tv.conv1, tv.bn1, tv.relu, tv.maxpool), tv if network else None)]
    for name in STEMS:
        model = resnet50_dct("24", stem=name)
        rows.append(_row("ResNet-50", name, f"DCT-24 {2 * size}×{2 * size}", (c, size // 4, size // 4),
                         model.dct_stem, model if network else None))
    tv = torchvision.models.mobilenet_v2()
    rows.append(_row("MobileNetV2", "RGB features.0", f"RGB {size}×{size}", (3, size, size), tv.features[0],
                     tv if network else None))
    for scale in (4, 2):  # 896 px: features.1 sees RGB's 112x112; 448 px: 56x56
        for name in STEMS:
            model = mobilenet_v2_dct("24", stem=name)
            grid = size * scale // 8
            rows.append(_row("MobileNetV2", name, f"DCT-24 {scale * size}×{scale * size}", (c, grid, grid),
                             model.dct_stem, model if network else None))
    return rows


def markdown(rows: list[dict]) -> str:
    """The table the docs show (docs/design.md), from the rows the JSON holds."""
    network = all("network_flops" in r for r in rows)
    head = "| model | stem | image | stem input → output | stem MFLOPs | stem params |"
    rule = "|---|---|---|---|---:|---:|"
    if network:
        head += " network GFLOPs | network params (M) |"
        rule += "---:|---:|"
    lines = [head, rule]
    for r in rows:
        line = (f"| {r['model']} | {r['stem']} | {r['input']} | {_shape(r['stem_input'])} → {_shape(r['stem_output'])} "
                f"| {r['stem_flops'] / 1e6:.1f} | {r['stem_params']:,} |")
        if network:
            line += f" {r['network_flops'] / 1e9:.2f} | {r['network_params'] / 1e6:.2f} |"
        lines.append(line)
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--det-size", type=int, default=800, help="detector image side in pixels (a multiple of 8)")
    p.add_argument("--cls-size", type=int, default=224,
                   help="RGB classifier image side (a multiple of 8); the DCT classifiers see 2x and 4x it")
    p.add_argument("--no-network", action="store_true", help="stems only, without the whole-network totals")
    p.add_argument("--output", default="", help="JSON file for the rows (e.g. docs/stem_cost.json)")
    a = p.parse_args()
    if a.det_size % 8 or a.cls_size % 8:
        p.error("--det-size and --cls-size must be multiples of 8 (whole DCT blocks)")
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    rows = detector_rows(a.det_size, not a.no_network) + classifier_rows(a.cls_size, not a.no_network)
    print(markdown(rows))
    if a.output:
        with open(a.output, "w", encoding="utf-8") as f:
            json.dump({"convention": CONVENTION, "det_size": a.det_size, "cls_size": a.cls_size, "rows": rows}, f,
                      indent=1, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
