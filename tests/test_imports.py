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


@pytest.mark.parametrize("module", ["freqdet.dct", "freqdet.classification.transforms"])
def test_pure_transforms_import_without_detectron2_or_torch(module):
    out = run_python(
        f"import sys, numpy as np, {module}\n"
        "import freqdet.dct as D\n"
        "x = D.image_to_dct(np.full((16, 16, 3), 200, np.uint8), '6', input_format='RGB')\n"
        "assert x.shape == (6, 2, 2), x.shape\n"
        "print(sorted(m for m in ('torch', 'torchvision', 'detectron2') if m in sys.modules))"
    )
    assert out == "[]"


def test_classification_transform_builds_without_detectron2():
    out = run_python(
        "import sys, numpy as np\n"
        "from PIL import Image\n"
        "from freqdet.classification.transforms import build_transform\n"
        "t = build_transform('dct', train=False, size=64, channels='24')\n"
        "y = t(Image.fromarray(np.zeros((80, 96, 3), np.uint8)))\n"
        "print(tuple(y.shape), 'detectron2' in sys.modules)"
    )
    assert out == "(24, 8, 8) False"


CHECK_REGISTERED = (
    "from detectron2.modeling import BACKBONE_REGISTRY, META_ARCH_REGISTRY\n"
    "from detectron2.data import DatasetCatalog\n"
    "print('FreqRCNN' in META_ARCH_REGISTRY, 'build_dct_resnet_fpn_backbone' in BACKBONE_REGISTRY,"
    " 'freqdet_demo_train' in DatasetCatalog.list())"
)


@pytest.mark.parametrize("first", [
    "import freqdet",  # Detectron2 imported afterwards: registered as it finishes importing
    "import detectron2.modeling; import freqdet",  # already imported: registered at once
    "import freqdet.dct",  # the pure subpackage also arms the registration
    "from freqdet.config import add_freqdet_config",
    "import freqdet.modeling.meta_arch",
])
def test_registration_on_import(first):
    assert run_python(first + "\n" + CHECK_REGISTERED) == "True True True"
