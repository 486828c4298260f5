"""Weight files are read without executing code: a crafted pickle is refused, real weights load."""
import pickle

import numpy as np
import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from torch import nn

from freqdet.detection.weights import load_state_dict
from freqdet.engine.checkpoint import SafeCheckpointer
from freqdet.core.safe_load import UnsafeCheckpointError, safe_pickle_load


class Payload:
    """Unpickling this runs ``exec``: it would create ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('pwned')",)


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


@pytest.mark.parametrize("ext", ["pkl", "pth"])
def test_crafted_pickle_is_refused(tmp_path, ext):
    marker = tmp_path / "marker"
    path = tmp_path / f"evil.{ext}"
    weights = {k: v.numpy() for k, v in _model().state_dict().items()}
    data = {"model": {**weights, "0.weight": Payload(marker)}, "__author__": "someone"}
    if ext == "pkl":
        with open(path, "wb") as f:
            pickle.dump(data, f)
    else:
        torch.save(data, path)
    with pytest.raises(UnsafeCheckpointError, match=rf"{path}: .*(refusing to unpickle builtins.exec|not a weights-only)"):
        SafeCheckpointer(_model()).load(str(path))
    with pytest.raises(UnsafeCheckpointError, match=str(path)):
        load_state_dict(str(path))  # tools/convert_weights.py's reader
    assert not marker.exists()  # nothing ran
    with open(path, "rb") as f:  # the file is a working exploit: plain pickle would have run it
        (pickle.load(f) if ext == "pkl" else torch.load(f, weights_only=False))
    assert marker.read_text() == "pwned"


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_model_zoo_and_caffe2_pickles_load(tmp_path, protocol):
    src = _model()
    weights = {k: v.numpy().copy() for k, v in src.state_dict().items() if "num_batches" not in k}
    zoo, c2 = tmp_path / "zoo.pkl", tmp_path / "c2.pkl"
    with open(zoo, "wb") as f:
        pickle.dump({"model": weights, "__author__": "test", "matching_heuristics": True}, f, protocol=protocol)
    with open(c2, "wb") as f:
        pickle.dump({"blobs": {**weights, "x_momentum": np.zeros(2)}, "scale": np.float32(2.0)}, f, protocol=protocol)
    assert safe_pickle_load(str(c2))["scale"] == np.float32(2.0)
    for path in (zoo, c2):
        dst = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        SafeCheckpointer(dst).load(str(path))
        for k, v in dst.state_dict().items():
            if "num_batches" not in k:
                np.testing.assert_array_equal(v.numpy(), weights[k])


def test_training_checkpoint_round_trips(tmp_path):
    """What Detectron2's checkpointer writes during training (model, optimizer, scheduler,
    iteration) is weights-only and resumes through SafeCheckpointer."""
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1)
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    opt.step()
    sched.step()
    DetectionCheckpointer(model, str(tmp_path), optimizer=opt, scheduler=sched).save("model_0000009", iteration=9)
    model2 = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    opt2 = torch.optim.SGD(model2.parameters(), lr=0.1, momentum=0.9)
    sched2 = torch.optim.lr_scheduler.StepLR(opt2, 1)
    extra = SafeCheckpointer(model2, str(tmp_path), optimizer=opt2, scheduler=sched2).resume_or_load("", resume=True)
    assert extra["iteration"] == 9 and sched2.last_epoch == 1
    torch.testing.assert_close(opt2.state_dict()["state"][0]["momentum_buffer"], opt.state_dict()["state"][0]["momentum_buffer"])
    for a, b in zip(model.state_dict().values(), model2.state_dict().values()):
        torch.testing.assert_close(a, b)
