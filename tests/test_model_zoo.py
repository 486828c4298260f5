"""The model zoo: configs ship inside the package, and a non-editable install loads every one."""
import os
import shutil
import subprocess
import sys

import pytest

from freqdet import model_zoo

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_top_level_configs_are_the_package_files():
    link = os.path.join(REPO, "configs")
    assert os.path.islink(link), "configs/ must be a symlink to freqdet/model_zoo/configs, not a copy"
    assert os.path.realpath(link) == os.path.realpath(os.path.join(REPO, "freqdet", "model_zoo", "configs"))


def test_list_configs_lists_configs_only():
    """Not the common/ pieces the LazyConfigs import; every LazyConfig has its yacs twin (the README says so)."""
    names = model_zoo.list_configs()
    assert not [n for n in names if n.startswith("common/") or "__pycache__" in n]
    assert os.path.isfile(os.path.join(REPO, "configs", "common", "coco_dct.py"))  # it exists, it is just no config
    lazy = [n for n in names if n.endswith(".py")]
    assert len(lazy) >= 5
    assert [n for n in lazy if n[:-3] + ".yaml" not in names] == []


def test_get_config_file_and_errors():
    path = model_zoo.get_config_file("Demo/mask_rcnn_dct24_R_50_FPN_demo.yaml")
    assert os.path.samefile(path, os.path.join(REPO, "configs", "Demo", "mask_rcnn_dct24_R_50_FPN_demo.yaml"))
    with pytest.raises(RuntimeError, match="not in freqdet's model zoo"):
        model_zoo.get_config_file("Demo/no_such_config.yaml")


LOAD_ALL = r"""
import json, os, sys
import freqdet
from freqdet import model_zoo
assert freqdet.__file__.startswith(sys.argv[1]), freqdet.__file__
loaded = {}
for name in model_zoo.list_configs():
    cfg = model_zoo.get_config(name)
    if name.endswith(".yaml"):
        loaded[name] = [cfg.MODEL.META_ARCHITECTURE, list(cfg.INPUT.DCT.CHANNELS)]
    else:
        loaded[name] = [cfg.model._target_.__name__, list(cfg.model.input_spec.channels)]
print(json.dumps(loaded))
"""


def test_non_editable_install_loads_every_config(tmp_path):
    """Build and install a wheel of this checkout with pip into a temporary directory (not
    editable, no network), then load every config from there in a fresh interpreter."""
    src, site = tmp_path / "src", tmp_path / "site"
    src.mkdir()
    shutil.copytree(os.path.join(REPO, "freqdet"), src / "freqdet", ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("setup.py", "README.md"):
        shutil.copy(os.path.join(REPO, f), src / f)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(site), str(src)], check=True, capture_output=True, timeout=300)
    shutil.rmtree(src)  # nothing may be read from the source tree any more
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-c", LOAD_ALL, str(site)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sorted(loaded) == model_zoo.list_configs()  # every file of the checkout was installed
    assert len(loaded) >= 10
    assert sum(name.endswith(".py") for name in loaded) >= 5  # LazyConfigs
    for name, (arch, channels) in loaded.items():
        assert arch == "FreqRCNN" and channels, (name, arch, channels)
