"""Export (freqdet.detection.export, tools/export_model.py): graphs with the documented named inputs and
outputs which, run through ExportedDetector on real photos (without the config), give the eager model's
detections in original-image pixels, at the traced size and at another one."""
import json
import os
import re
import subprocess
import sys

import cv2
import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import transforms as T
from detectron2.modeling import build_model

from freqdet.detection.config import load_config
from freqdet.detection.export import META_FILE, ExportedDetector, export_meta, export_scripting, export_tracing
from freqdet.detection.inference import build_test_input
from freqdet.detection.mapper import DCTDatasetMapper
from freqdet.synthetic.coco_writer import THING_CLASSES, generate_demo_dataset
from test_detection_model import make_cfg

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = ["cat", "dog", "teapot"]


@pytest.fixture(scope="module")
def images(photos):
    """Two real photos of different sizes, BGR as Detectron2 reads them (the trace uses the first)."""
    return [cv2.cvtColor(photos[k], cv2.COLOR_RGB2BGR) for k in ("china", "coffee")]


def build(on_device, mask=True, channels="24", gate=False, score_thresh=0.0):
    torch.manual_seed(0)
    cfg = make_cfg(channels, 2, mask=mask)
    cfg.INPUT.DCT.ON_DEVICE = on_device
    cfg.MODEL.FREQ_GATE.ENABLED = gate
    # GroupNorm keeps a random-init network's features normalized, so its boxes are object-sized and
    # its scores spread out (with frozen BN statistics they collapse to slivers scored 1e-30). The
    # mask head's GroupNorm is the demo config's (it sees an empty batch when nothing is detected).
    cfg.MODEL.RESNETS.NORM = cfg.MODEL.FPN.NORM = cfg.MODEL.ROI_MASK_HEAD.NORM = "GN"
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = score_thresh  # 0: untrained, keep every detection to compare
    # Fewer proposals and detections than COCO's: the same code paths, a fraction of the CPU time.
    cfg.MODEL.RPN.PRE_NMS_TOPK_TEST, cfg.MODEL.RPN.POST_NMS_TOPK_TEST = 200, 100
    cfg.TEST.DETECTIONS_PER_IMAGE = 30
    return cfg, build_model(cfg).eval()


def names(mask):
    return ["boxes", "scores", "classes", "masks"] if mask else ["boxes", "scores", "classes"]


def check_image(model, mapper, detector, image, atol):
    """The detector on an original ``image`` against the eager model: its raw outputs in the documented
    order at the resized size, then Detectron2's outputs in the original image's pixels."""
    x = build_test_input(mapper, image)
    assert torch.equal(detector.inputs(image)["image"], x["image"])  # the meta rebuilds the test mapper
    with torch.no_grad():
        raw = model.inference([x], do_postprocess=False)[0]
        eager = model([x])[0]["instances"]
    assert len(eager) >= 10 and float(eager.pred_boxes.area().median()) > 1000  # real boxes, not slivers
    out = detector.run_graph(x)
    assert len(out) == len(detector.meta["outputs"])
    expected = [raw.pred_boxes.tensor, raw.scores, raw.pred_classes] + ([raw.pred_masks] if raw.has("pred_masks") else [])
    for name, got, ref in zip(detector.meta["outputs"], out, expected):
        assert got.dtype == ref.dtype and got.shape == ref.shape, name
        torch.testing.assert_close(got, ref, atol=atol, rtol=0, msg=name)
    h, w = x["image_size"]  # boxes are in pixels of the resized image
    assert float(out[0][:, 2].max()) <= w and float(out[0][:, 3].max()) <= h
    full = detector(image)["instances"]
    assert full.image_size == image.shape[:2] == eager.image_size
    assert len(full) == len(eager) and torch.equal(full.pred_classes, eager.pred_classes)
    torch.testing.assert_close(full.pred_boxes.tensor, eager.pred_boxes.tensor, atol=atol, rtol=0)
    torch.testing.assert_close(full.scores, eager.scores, atol=atol, rtol=0)
    if eager.has("pred_masks"):  # pasted bool (N, H, W); a pixel at exactly the 0.5 threshold may flip
        assert full.pred_masks.shape == eager.pred_masks.shape and full.pred_masks.dtype == torch.bool
        assert float((full.pred_masks != eager.pred_masks).float().mean()) < 1e-4


@pytest.mark.parametrize("on_device", [True, False])
def test_onnx_through_the_helper_equals_eager(tmp_path, images, on_device):
    ort = pytest.importorskip("onnxruntime")
    mask = on_device  # a mask model with on-device DCT, a box model with DCT input
    cfg, model = build(on_device, mask=mask)
    mapper = DCTDatasetMapper(cfg, is_train=False)
    path = export_tracing(model, mapper, images[0], "onnx", str(tmp_path), class_names=CLASSES)
    sess = ort.InferenceSession(path)
    inputs = {i.name: (i.type, i.shape) for i in sess.get_inputs()}
    if on_device:
        assert inputs == {"image": ("tensor(uint8)", [3, "height", "width"])}
    else:
        # the DCT tensor in INPUT.DCT.DTYPE (float16 in the base config) and the resized size
        assert inputs == {"image": ("tensor(float16)", [24, "height", "width"]),
                          "image_size": ("tensor(int64)", [2])}
    outputs = [(o.name, o.type, o.shape) for o in sess.get_outputs()]
    assert outputs == [("boxes", "tensor(float)", ["detections", 4]), ("scores", "tensor(float)", ["detections"]),
                       ("classes", "tensor(int64)", ["detections"]),
                       ("masks", "tensor(float)", ["detections", 1, 28, 28])][: len(names(mask))]
    detector = ExportedDetector(path)  # no config: everything from the meta inside the file
    with open(tmp_path / META_FILE) as f:
        assert json.load(f) == detector.meta
    assert detector.meta["outputs"] == names(mask) and detector.class_names == CLASSES
    assert detector.meta["test_augmentations"] == [{"type": "ResizeShortestEdge", "short_edge_length": [160, 160],
                                                    "max_size": 320, "sample_style": "choice", "interp": 2}]
    for image in images:  # the traced size, then another: nothing size-specific was baked in
        check_image(model, mapper, detector, image, atol=2e-3)  # onnxruntime's kernels round differently


def test_onnx_without_detections(tmp_path, images):
    """No detection above the threshold: empty outputs of the documented shapes, not an onnxruntime
    error in the GroupNorm mask head's empty batch."""
    pytest.importorskip("onnxruntime")
    cfg, model = build(True, score_thresh=1.0)
    path = export_tracing(model, DCTDatasetMapper(cfg, is_train=False), images[0], "onnx", str(tmp_path))
    detector = ExportedDetector(path)
    out = detector.run_graph(detector.inputs(images[1]))
    assert [tuple(o.shape) for o in out] == [(0, 4), (0,), (0,), (0, 1, 28, 28)]
    found = detector(images[1])["instances"]
    assert len(found) == 0 and found.pred_masks.shape == (0, *images[1].shape[:2])


@pytest.mark.parametrize("method,on_device,gate", [("tracing", True, False), ("scripting", False, True)])
def test_torchscript_through_the_helper_equals_eager(tmp_path, images, method, on_device, gate):
    cfg, model = build(on_device, mask=not gate, channels="192" if gate else "24", gate=gate)
    mapper = DCTDatasetMapper(cfg, is_train=False)
    if method == "tracing":
        path = export_tracing(model, mapper, images[0], "torchscript", str(tmp_path), dump_ir=False)
    else:
        path = export_scripting(model, mapper, str(tmp_path), dump_ir=False)
    ts = torch.jit.load(path)
    arguments = [a.name for a in ts.forward.schema.arguments[1:]]
    # traced: exactly the graph's inputs; scripted: image_size is Optional (None with on-device DCT)
    assert arguments == (["image"] if on_device else ["image", "image_size"])
    assert len(ts.forward.schema.returns[0].type.elements()) == len(names(not gate))
    detector = ExportedDetector(path)
    assert detector.meta["inputs"] == arguments and detector.meta["outputs"] == names(not gate)
    assert detector.class_names is None
    for image in images:
        check_image(model, mapper, detector, image, atol=1e-4)


def test_export_needs_a_describable_test_resize_and_a_freqdet_file(tmp_path):
    cfg, model = build(True, mask=False)
    mapper = DCTDatasetMapper(cfg, is_train=False)
    mapper.augmentations = T.AugmentationList([T.RandomFlip()])
    with pytest.raises(ValueError, match="RandomFlip.*only ResizeShortestEdge"):
        export_meta(model, mapper)
    torch.jit.save(torch.jit.script(torch.nn.Identity()), str(tmp_path / "other.ts"))
    with pytest.raises(ValueError, match="other.ts holds no freqdet export meta"):
        ExportedDetector(str(tmp_path / "other.ts"))


def test_export_tool(tmp_path, images):
    """tools/export_model.py on a saved checkpoint: ONNX export, check on the sample image,
    --run-image on another photo (detections in its pixels, equal to the eager model's) and
    --run-eval of the ONNX file on a (generated) test set."""
    pytest.importorskip("onnxruntime")
    generate_demo_dataset(tmp_path / "data" / "demo", num_train=1, num_val=2, image_size=128, seed=2)
    sample, photo = tmp_path / "china.jpg", tmp_path / "coffee.jpg"
    cv2.imwrite(str(sample), images[0], [cv2.IMWRITE_JPEG_QUALITY, 95])
    cv2.imwrite(str(photo), images[1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    config = os.path.join(REPO, "configs", "Demo", "mask_rcnn_dct24_R_50_FPN_demo.yaml")
    opts = ["MODEL.PIXEL_STATS_FILE", "", "MODEL.PIXEL_MEAN", str([0.0] * 24), "MODEL.PIXEL_STD", str([20.0] * 24),
            "INPUT.DCT.ON_DEVICE", "True", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"]
    torch.manual_seed(0)
    cfg = load_config(config, opts)
    model = build_model(cfg).eval()  # a real checkpoint to load (random weights: no trained ones ship)
    DetectionCheckpointer(model, str(tmp_path)).save("model")
    cmd = [sys.executable, os.path.join(REPO, "tools", "export_model.py"), "--format", "onnx",
           "--export-method", "tracing", "--config-file", config, "--sample-image", str(sample),
           "--output", str(tmp_path / "out"), "--run-image", str(photo), "--run-eval",
           *opts, "MODEL.WEIGHTS", str(tmp_path / "model.pth")]
    env = {**os.environ, "FREQDET_DATASETS": str(tmp_path / "data")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    log = proc.stderr + proc.stdout
    assert proc.returncode == 0, log[-3000:]
    assert (tmp_path / "out" / "model.onnx").is_file() and (tmp_path / "out" / META_FILE).is_file()
    diff = float(re.search(r"Largest \|exported - eager\| on the sample image: (\S+)", log)[1])
    assert diff < 2e-3
    assert "Evaluation results for bbox" in log
    with open(tmp_path / "out" / "detections.json") as f:
        written = json.load(f)
    image = cv2.imread(str(photo))  # the photo as the tool read it (BGR, the demo's INPUT.FORMAT)
    with torch.no_grad():
        eager = model([build_test_input(DCTDatasetMapper(cfg, is_train=False), image)])[0]["instances"]
    assert (written["height"], written["width"]) == image.shape[:2] and written["largest_difference_from_eager"] < 2e-3
    assert len(written["detections"]) == len(eager) > 0
    for d, box, c in zip(written["detections"], eager.pred_boxes.tensor.tolist(), eager.pred_classes.tolist()):
        assert d["class"] == c and d["class_name"] == THING_CLASSES[c]  # the demo dataset's names
        assert max(abs(a - b) for a, b in zip(d["box"], box)) < 2e-3  # original-image pixels
    assert f"{len(eager)} detections on {photo}" in proc.stdout
    bad = subprocess.run(cmd[:2] + ["--format", "onnx", "--export-method", "scripting"] + cmd[6:],
                         capture_output=True, text=True, timeout=300, env=env)
    assert bad.returncode != 0 and "--format onnx needs --export-method tracing" in bad.stderr
