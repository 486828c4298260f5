"""Import costs and registration, each in a fresh interpreter (sys.modules is per process)."""
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


# Entries of None in sys.modules make those imports fail as if the packages were not installed.
def blocked(*names: str) -> str:
    return "import sys\n" + "".join(f"sys.modules[{n!r}] = None\n" for n in names)


def test_core_transforms_work_without_detectron2_or_torch():
    out = run_python(
        blocked("torch", "torchvision", "detectron2")
        + "import numpy as np, freqdet, freqdet.core as D\n"
        "x = D.image_to_dct(np.full((16, 16, 3), 200, np.uint8), '6', input_format='RGB')\n"
        "assert x.shape == (6, 2, 2), x.shape\n"
        "print(freqdet.HAS_DETECTRON2)"
    )
    assert out == "False"


def test_classification_transform_and_model_work_without_detectron2():
    out = run_python(
        blocked("detectron2")
        + "import numpy as np, torch\n"
        "from PIL import Image\n"
        "from freqdet.classification.models import build_classifier\n"
        "from freqdet.classification.transforms import build_transform\n"
        "t = build_transform('dct', train=False, size=64, channels='24')\n"
        "y = t(Image.fromarray(np.zeros((80, 96, 3), np.uint8)))\n"
        "net = build_classifier('mobilenet_v2_dct', 3, '24').eval()\n"
        "print(tuple(y.shape), tuple(net(y[None]).shape))"
    )
    assert out == "(24, 8, 8) (1, 3)"


CHECK_REGISTERED = (
    "from detectron2.modeling import BACKBONE_REGISTRY, META_ARCH_REGISTRY\n"
    "from detectron2.data import DatasetCatalog\n"
    "print('FreqRCNN' in META_ARCH_REGISTRY, 'build_dct_resnet_fpn_backbone' in BACKBONE_REGISTRY,"
    " 'freqdet_demo_train' in DatasetCatalog.list())"
)


@pytest.mark.parametrize("first", [
    "import freqdet",
    "import detectron2.modeling; import freqdet",
    "import freqdet.core",  # any freqdet import runs freqdet/__init__.py, which registers
    "from freqdet.detection.config import add_freqdet_config",
])
def test_registration_on_import(first):
    assert run_python(first + "\n" + CHECK_REGISTERED) == "True True True"
