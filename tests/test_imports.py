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


# Which freqdet subpackages each one may import: each layer only the ones below it, the tasks never each other.
LAYERS = {
    "core": {"core"},
    "analysis": {"core", "analysis"},
    "engine": {"core", "analysis", "engine"},
    "detection": {"core", "analysis", "engine", "detection"},
    "classification": {"core", "analysis", "engine", "classification"},
    "synthetic": {"core", "synthetic"},
    "model_zoo": {"core", "detection", "model_zoo"},
}


def test_every_subpackage_imports_only_the_layers_below_it():
    import ast

    root = os.path.join(REPO, "freqdet")
    found = {}
    for layer in LAYERS:
        for dirpath, _, files in os.walk(os.path.join(root, layer)):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(dirpath, name)
                package = os.path.relpath(dirpath, REPO).split(os.sep)
                for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
                    if isinstance(node, ast.ImportFrom):
                        base = package[: len(package) - node.level + 1] if node.level else []
                        module = ".".join(base + ([node.module] if node.module else []))
                    elif isinstance(node, ast.Import):
                        module = node.names[0].name
                    else:
                        continue
                    parts = module.split(".")
                    if parts[0] == "freqdet" and len(parts) > 1:
                        found.setdefault(layer, set()).add(parts[1])
    wrong = {layer: sorted(used - LAYERS[layer]) for layer, used in found.items() if used - LAYERS[layer]}
    assert not wrong, wrong
    assert {"core", "engine", "detection"} <= found["detection"] and "core" in found["classification"]
