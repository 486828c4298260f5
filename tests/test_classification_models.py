"""DCT classifiers: shapes at the paper's sizes, torchvision key layout, gate wiring."""
import numpy as np
import pytest
import torch
import torchvision

from freqdet.classification import build_classifier, build_transform, mobilenet_v2_dct, resnet50_dct
from freqdet.core import parse_channels
from freqdet.core.gate import FrequencyGate


def _shapes(model, x, names):
    """Input shape of the first and output shape of the last named submodule.

    On the ``meta`` device only shapes are computed: the 448/896 px cases cost nothing.
    """
    seen = {}
    mods = dict(model.named_modules())

    def record_in(module, inputs, output):
        seen["in"] = tuple(inputs[0].shape)

    def record_out(module, inputs, output):
        seen["out"] = tuple(output.shape)

    hooks = [mods[names[0]].register_forward_hook(record_in), mods[names[1]].register_forward_hook(record_out)]
    with torch.no_grad():
        logits = model.eval()(x)
    for h in hooks:
        h.remove()
    return logits, seen


@pytest.mark.parametrize("channels", ["24", "64", "192"])
def test_resnet50_dct_448_input(channels):
    c = len(parse_channels(channels))
    model = resnet50_dct(channels, num_classes=1000).to("meta")
    logits, seen = _shapes(model, torch.empty(1, c, 56, 56, device="meta"), ("layer1", "layer4"))
    assert logits.shape == (1, 1000)
    # The paper: 448x448 image -> 56x56xC into layer1, the feature sizes of RGB ResNet-50 at 224.
    assert seen == {"in": (1, c, 56, 56), "out": (1, 2048, 7, 7)}


@pytest.mark.parametrize("grid,out", [(8, 1), (14, 2), (28, 4)])  # 64, 112 and 224 px images
def test_resnet50_dct_other_sizes(grid, out):
    """Real forward passes (the 448 case above runs on the meta device)."""
    logits, seen = _shapes(resnet50_dct("24", num_classes=7), torch.randn(2, 24, grid, grid), ("layer1", "layer4"))
    assert logits.shape == (2, 7) and seen["out"] == (2, 2048, out, out)


@pytest.mark.parametrize("channels,grid", [("24", 56), ("64", 56), ("192", 56), ("24", 112), ("64", 112)])
def test_mobilenet_v2_dct_shapes(channels, grid):
    """448 px -> 56x56xC; 896 px -> 112x112xC (what torchvision's features.1 sees at 224) -> 7x7."""
    c = len(parse_channels(channels))
    logits, seen = _shapes(mobilenet_v2_dct(channels, num_classes=10).to("meta"),
                           torch.empty(1, c, grid, grid, device="meta"), ("features.1", "features.18"))
    assert logits.shape == (1, 10)
    assert seen == {"in": (1, c, grid, grid), "out": (1, 1280, -(-grid // 16), -(-grid // 16))}


def test_mobilenet_v2_dct_real_forward():
    with torch.no_grad():
        assert mobilenet_v2_dct("24", num_classes=5).eval()(torch.randn(2, 24, 8, 8)).shape == (2, 5)


def test_resnet50_dct_keys_are_torchvisions():
    """Everything but the stem keeps torchvision's names and shapes; layer1's inputs take C."""
    ours = resnet50_dct("24").state_dict()
    ref = torchvision.models.resnet50().state_dict()
    stem = {k for k in ref if k.split(".")[0] in ("conv1", "bn1")}
    assert set(ours) == set(ref) - stem
    changed = {k for k in ours if ours[k].shape != ref[k].shape}
    assert changed == {"layer1.0.conv1.weight", "layer1.0.downsample.0.weight"}
    assert ours["layer1.0.conv1.weight"].shape == (64, 24, 1, 1)
    assert ours["layer1.0.downsample.0.weight"].shape == (256, 24, 1, 1)
    # A torchvision checkpoint's later stages load as they are.
    body = {k: v for k, v in ref.items() if k not in stem and k not in changed}
    missing, unexpected = resnet50_dct("24").load_state_dict(body, strict=False)
    assert set(missing) == changed and not unexpected


def test_mobilenet_v2_dct_keys_are_torchvisions():
    ours = mobilenet_v2_dct("64").state_dict()
    ref = torchvision.models.mobilenet_v2().state_dict()
    assert not any(k.startswith("features.0.") for k in ours)
    assert {k for k in ref if not k.startswith(("features.0.", "features.1."))} <= set(ours)
    assert ours["features.1.conv.0.0.weight"].shape == (64, 1, 3, 3)  # depthwise over the C inputs


def test_end_to_end_from_a_448_photo(photos):
    x = build_transform("dct", train=False, channels="24")(_pil(photos["china"]))
    assert x.shape == (24, 56, 56)
    with torch.no_grad():
        assert resnet50_dct("24", num_classes=3).to("meta").eval()(x[None].to("meta")).shape == (1, 3)


def _pil(a):
    from PIL import Image

    return Image.fromarray(a)


def test_wrong_input_channels_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expects \(N, 24, h, w\).*\(1, 64, 8, 8\)"):
        resnet50_dct("24")(torch.randn(1, 64, 8, 8))
    with pytest.raises(ValueError, match="unknown arch 'resnet18_dct'"):
        build_classifier("resnet18_dct", 10)


def test_gate_sits_before_layer1_and_adds_its_loss():
    model = resnet50_dct("192", num_classes=4, gate=True,
                         gate_kwargs={"init_on_logit": -20.0, "inference": "on_greater_off"})
    assert isinstance(model.gate, FrequencyGate) and model.in_channels == 192
    assert model.gate.inference == "on_greater_off"  # gate_kwargs reach the gate
    model.eval()  # deterministic mask: every channel off, so the output cannot depend on the input
    with torch.no_grad():
        a, b = model(torch.randn(2, 192, 8, 8)), model(torch.randn(2, 192, 8, 8) * 5)
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
    model.train()
    model.gate.loss_weight = 2.0
    model(torch.randn(2, 192, 8, 8))
    losses = model.auxiliary_losses()
    assert set(losses) == {"loss_gate"} and losses["loss_gate"].requires_grad
    assert resnet50_dct("24").auxiliary_losses() == {}
    with pytest.raises(ValueError, match="gate=True selects channels itself"):
        resnet50_dct("24", gate=True)


STEM_NAMES = ("conv", "conv2", "luma_chroma")
# The first torchvision block behind the stem and the width it takes from the RGB stem.
FIRST_BLOCK = {"resnet50_dct": ("layer1", 64), "mobilenet_v2_dct": ("features.1", 32)}


@pytest.mark.parametrize("arch", sorted(FIRST_BLOCK))
@pytest.mark.parametrize("stem", STEM_NAMES)
def test_each_learned_stem_runs_and_feeds_rgb_width(arch, stem):
    model = build_classifier(arch, 5, "24", stem=stem, stem_kernel=3)
    block, width = FIRST_BLOCK[arch]
    assert isinstance(model.dct_stem.norm1, torch.nn.BatchNorm2d)  # torchvision's norm
    logits, seen = _shapes(model, torch.randn(2, 24, 8, 8), (block, block))
    assert logits.shape == (2, 5) and seen["in"] == (2, width, 8, 8)


@pytest.mark.parametrize("arch", sorted(FIRST_BLOCK))
def test_stem_model_takes_torchvisions_rgb_weights_by_name(arch):
    """With a learned stem the first block is torchvision's: an RGB checkpoint loads with the same keys and
    shapes, leaving only the DCT stem (and RGB's own first layer) out."""
    ref = (torchvision.models.resnet50() if arch == "resnet50_dct" else torchvision.models.mobilenet_v2()).state_dict()
    rgb_stem = ("conv1.", "bn1.") if arch == "resnet50_dct" else ("features.0.",)
    body = {k: v for k, v in ref.items() if not k.startswith(rgb_stem)}
    model = build_classifier(arch, 1000, "24", stem="conv")
    missing, unexpected = model.load_state_dict(body, strict=False)  # a shape mismatch would raise
    assert not unexpected and missing and all(k.startswith("dct_stem.") for k in missing)
    block = FIRST_BLOCK[arch][0]
    ours = {k: v for k, v in model.state_dict().items() if k.startswith(block + ".")}
    assert ours.keys() == {k for k in ref if k.startswith(block + ".")}
    for k, v in ours.items():
        torch.testing.assert_close(v, ref[k], msg=k)


def test_none_keeps_the_papers_model():
    """stem="none" is today's model: no stem module, the first block reads the C channels."""
    for model in (resnet50_dct("24", stem="none"), mobilenet_v2_dct("24", stem="none")):
        assert model.dct_stem is None and not any(k.startswith("dct_stem") for k in model.state_dict())
        assert not any(name.startswith("dct_stem") for name, _ in model.named_modules())
    assert resnet50_dct("24", stem="none").state_dict().keys() == resnet50_dct("24").state_dict().keys()
    assert resnet50_dct("24", stem="none").layer1[0].conv1.in_channels == 24


def test_stem_sits_behind_the_gate():
    model = resnet50_dct("192", num_classes=4, gate=True, stem="conv",
                         gate_kwargs={"init_on_logit": -20.0, "inference": "on_greater_off"})
    assert model.dct_stem.conv1.in_channels == 192
    model.eval()  # every channel off (the on > off rule): the stem sees zeros whatever the input
    with torch.no_grad():
        a, b = model(torch.randn(2, 192, 8, 8)), model(torch.randn(2, 192, 8, 8) * 5)
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


def test_stem_errors_are_clear():
    with pytest.raises(ValueError, match="luma_chroma stem needs luma and chroma"):
        resnet50_dct([0, 1, 8, 9], stem="luma_chroma")  # luma only
    with pytest.raises(ValueError, match="unknown DCT stem 'conv3'"):
        mobilenet_v2_dct("24", stem="conv3")
    with pytest.raises(ValueError, match="kernel must be odd"):
        resnet50_dct("24", stem="conv", stem_kernel=2)
    with pytest.raises(ValueError, match="stem='conv' applies to DCT models only"):
        build_classifier("resnet50", 10, stem="conv")
