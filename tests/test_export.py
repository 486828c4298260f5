"""Export (freqdet.detection.export, tools/export_model.py): exported graphs give the eager model's outputs
on real photos, at the traced size and at another one."""
import os
import re
import subprocess
import sys

import cv2
import pytest
import torch
from detectron2.modeling import build_model

from freqdet.synthetic.coco_writer import generate_demo_dataset
from freqdet.detection.export import (
    export_inputs,
    export_scripting,
    export_tracing,
    flat_inputs,
    graph_inputs,
    postprocess,
    scripted_instances,
)
from test_detection_model import make_cfg

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def images(photos):
    """Two real photos of different sizes, BGR as Detectron2 reads them (the trace uses the first)."""
    return [cv2.cvtColor(photos[k], cv2.COLOR_RGB2BGR) for k in ("china", "coffee")]


def build(on_device, mask=True, channels="24", gate=False):
    torch.manual_seed(0)
    cfg = make_cfg(channels, 2, mask=mask)
    cfg.INPUT.DCT.ON_DEVICE = on_device
    cfg.MODEL.FREQ_GATE.ENABLED = gate
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0  # untrained: keep every detection to compare
    # Fewer proposals and detections than COCO's: the same code paths, a fraction of the CPU time.
    cfg.MODEL.RPN.PRE_NMS_TOPK_TEST, cfg.MODEL.RPN.POST_NMS_TOPK_TEST = 200, 100
    cfg.TEST.DETECTIONS_PER_IMAGE = 30
    return cfg, build_model(cfg).eval()


def assert_same(eager, exported, atol=1e-4, top=None):
    """Same detections; ``top``: only the ``top`` best eager ones must be found (tolerant exporters)."""
    eb, xb = eager.pred_boxes.tensor, exported.pred_boxes.tensor
    if top is None:
        assert len(eager) == len(exported) > 0
        torch.testing.assert_close(xb, eb, atol=atol, rtol=0)
        torch.testing.assert_close(exported.scores, eager.scores, atol=atol, rtol=0)
        assert torch.equal(exported.pred_classes, eager.pred_classes)
        if eager.has("pred_masks"):
            torch.testing.assert_close(exported.pred_masks, eager.pred_masks, atol=atol, rtol=0)
        return
    assert len(eager) >= top
    for i in range(top):
        d = (xb - eb[i]).abs().max(dim=1).values + 1e3 * (exported.pred_classes != eager.pred_classes[i])
        j = int(d.argmin())
        assert d[j] < atol and abs(float(exported.scores[j] - eager.scores[i])) < atol, (i, float(d[j]))


@pytest.mark.parametrize("on_device", [True, False])
def test_traced_torchscript_equals_eager(tmp_path, images, on_device):
    cfg, model = build(on_device)
    adapter = export_tracing(model, export_inputs(cfg, images[0]), "torchscript", str(tmp_path), dump_ir=False)
    ts = torch.jit.load(str(tmp_path / "model.ts"))
    for image in images:  # the traced size, then another: nothing size-specific was baked in
        inputs = export_inputs(cfg, image)
        # optimized_execution(False): no profiling/re-specialisation per new shape (slow on CPU)
        with torch.no_grad(), torch.jit.optimized_execution(False):
            eager = model.inference(graph_inputs(model, inputs), do_postprocess=False)[0]
            flat = ts(*flat_inputs(model, inputs))
            assert_same(eager, adapter.outputs_schema(flat)[0]["instances"])
        full = postprocess(adapter, flat, inputs)[0]["instances"]
        ref = model._postprocess([eager], inputs, [eager.image_size])[0]["instances"]  # what model(inputs) returns
        assert full.image_size == image.shape[:2]
        torch.testing.assert_close(full.pred_boxes.tensor, ref.pred_boxes.tensor, atol=1e-3, rtol=0)
    if on_device:  # takes the uint8 image like an RGB model
        assert inputs[0]["image"].dtype == torch.uint8 and inputs[0]["image"].shape[0] == 3


@pytest.mark.parametrize("on_device,gate", [(True, False), (False, True)])
def test_scripted_equals_eager(tmp_path, images, on_device, gate):
    cfg, model = build(on_device, mask=not gate, channels="192" if gate else "24", gate=gate)
    ts = export_scripting(model, str(tmp_path), dump_ir=False)
    loaded = torch.jit.load(str(tmp_path / "model.ts"))
    for image in images:
        inputs = export_inputs(cfg, image)
        g = graph_inputs(model, inputs)
        with torch.no_grad(), torch.jit.optimized_execution(False):
            eager = model.inference(g, do_postprocess=False)[0]
            outputs = loaded(tuple(g))
            assert_same(eager, scripted_instances(outputs[0], eager.image_size))
        full = postprocess(None, outputs, inputs)[0]["instances"]  # scripted: no adapter
        ref = model._postprocess([eager], inputs, [eager.image_size])[0]["instances"]
        assert full.image_size == image.shape[:2]
        torch.testing.assert_close(full.pred_boxes.tensor, ref.pred_boxes.tensor, atol=1e-3, rtol=0)
    assert ts is not None


@pytest.mark.parametrize("on_device", [True, False])
def test_onnx_runs_in_onnxruntime(tmp_path, images, on_device):
    ort = pytest.importorskip("onnxruntime")
    cfg, model = build(on_device, mask=on_device)
    adapter = export_tracing(model, export_inputs(cfg, images[0]), "onnx", str(tmp_path))
    sess = ort.InferenceSession(str(tmp_path / "model.onnx"))
    assert [i.name for i in sess.get_inputs()] == (["image"] if on_device else ["image", "image_size"])
    for image in images:
        flat_in = flat_inputs(model, export_inputs(cfg, image))
        out = sess.run(None, {i.name: t.numpy() for i, t in zip(sess.get_inputs(), flat_in)})
        with torch.no_grad():
            eager = adapter.outputs_schema(adapter(*flat_in))[0]["instances"]
        onnx = adapter.outputs_schema([torch.from_numpy(o) for o in out])[0]["instances"]
        # onnxruntime's kernels round differently: the best detections must agree to 0.1 px
        assert_same(eager, onnx, atol=0.1, top=10)


def test_export_tool(tmp_path, images):
    """Trace with tools/export_model.py from a saved checkpoint, check on the sample image, and
    evaluate the TorchScript file on a (generated) test set: --run-eval."""
    generate_demo_dataset(tmp_path / "data" / "demo", num_train=1, num_val=2, image_size=128, seed=2)
    src = tmp_path / "photo.jpg"
    cv2.imwrite(str(src), images[1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    stats = ["MODEL.PIXEL_STATS_FILE", "", "MODEL.PIXEL_MEAN", str([0.0] * 24), "MODEL.PIXEL_STD", str([20.0] * 24)]
    cfg, model = build(True)  # a real checkpoint to load (random weights: no trained ones ship)
    from detectron2.checkpoint import DetectionCheckpointer

    DetectionCheckpointer(model, str(tmp_path)).save("model")
    cmd = [sys.executable, os.path.join(REPO, "tools", "export_model.py"), "--format", "torchscript",
           "--export-method", "tracing", "--config-file", os.path.join(REPO, "configs", "Demo",
           "mask_rcnn_dct24_R_50_FPN_demo.yaml"), "--sample-image", str(src), "--output", str(tmp_path / "out"),
           "--run-eval", *stats, "MODEL.WEIGHTS", str(tmp_path / "model.pth"), "INPUT.DCT.ON_DEVICE", "True",
           "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0",
           "MODEL.WEIGHTS_PARTIAL", "True"]  # the checkpoint is build()'s 3-class model, not the demo config's
    env = {**os.environ, "FREQDET_DATASETS": str(tmp_path / "data")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "out" / "model.ts").is_file()
    diff = float(re.search(r"Largest \|exported - eager\| on the sample image: (\S+)", proc.stderr + proc.stdout)[1])
    assert diff < 1e-3
    assert "Evaluation results for bbox" in proc.stderr + proc.stdout
    bad = subprocess.run(cmd[:2] + ["--format", "onnx", "--export-method", "scripting"] + cmd[6:],
                         capture_output=True, text=True, timeout=300, env=env)
    assert bad.returncode != 0 and "--format onnx needs --export-method tracing" in bad.stderr
