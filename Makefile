# Two commands on a fresh machine: `make demo` and `make test` (both set up .venv first).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.freqdet-installed
# torch/torchvision pair that imports together on Python 3.11.
TORCH := torch==2.14.1 torchvision==0.29.1
DEMO_DIR ?= output/demo
DEMO_CONFIG ?= configs/Demo/mask_rcnn_dct24_R_50_FPN_demo.yaml

.PHONY: install test demo demo-cls bench-deps benchmark study study-quick clean

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstalls only when setup.py or the installer changes; an existing detectron2 is kept.
$(STAMP): $(PY) setup.py tools/install_detectron2.py
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH) "setuptools<81"
	$(PY) tools/install_detectron2.py
	$(PY) -m pip install --quiet -e ".[test,demo]"
	$(PY) -c "import freqdet, detectron2"
	touch $(STAMP)

# Debian's mate-backgrounds (1.3-4.9 MPix real photos: the study set, bench_mapper.py, and the tests
# of both); apt-get runs only when it is missing (as root, as in CI). Without it those tests skip.
PHOTO_DIR := /usr/share/backgrounds/mate/nature
$(PHOTO_DIR):
	DEBIAN_FRONTEND=noninteractive apt-get install -y mate-backgrounds || \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y mate-backgrounds) || \
		echo "mate-backgrounds could not be installed: the tests that need it will skip"

test: install $(PHOTO_DIR)
	$(PY) -m pytest -q tests

# Generate the demo set (once) -> DCT statistics (once) -> train DCT-24 Mask R-CNN from
# scratch on CPU, evaluate with COCOEvaluator (bbox, segm AP) -> predictions PNG.
demo: install
	$(PY) tools/dct_energy.py --output $(DEMO_DIR)/dct_energy.png
	$(PY) datasets/prepare_demo.py
	test -f $(DEMO_DIR)/dct_stats.json || $(PY) tools/compute_dct_stats.py --config-file $(DEMO_CONFIG) \
		--output $(DEMO_DIR)/dct_stats.json
	$(PY) tools/train_net.py --config-file $(DEMO_CONFIG) MODEL.PIXEL_STATS_FILE $(DEMO_DIR)/dct_stats.json \
		OUTPUT_DIR $(DEMO_DIR)/train
	$(PY) tools/demo.py --config-file $(DEMO_CONFIG) --input datasets/demo/val --max-images 4 \
		--output $(DEMO_DIR)/predictions.png MODEL.PIXEL_STATS_FILE $(DEMO_DIR)/dct_stats.json \
		MODEL.WEIGHTS $(DEMO_DIR)/train/model_final.pth

# Debian's Fashion-MNIST, a real labelled set available offline; apt-get runs only when the
# files are missing (as root, as in CI).
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
$(FASHION_MNIST):
	DEBIAN_FRONTEND=noninteractive apt-get install -y dataset-fashion-mnist || \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y dataset-fashion-mnist)

# Fashion-MNIST as a 128 px JPEG ImageFolder (once) -> DCT-24 MobileNetV2 and the RGB MobileNetV2
# trained with the same recipe on CPU -> both top-1 side by side (docs/classification.md).
demo-cls: install $(FASHION_MNIST)
	$(PY) tools/demo_classification.py --data datasets/fashion_mnist_128 --output $(DEMO_DIR)/classification

# The photos and libturbojpeg for the paper's pipeline in bench_mapper.py; apt-get runs only when
# they are missing (as root, as in CI).
BENCH_DEBS := mate-backgrounds libturbojpeg0
bench-deps: install
	dpkg -s $(BENCH_DEBS) >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y $(BENCH_DEBS) || \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(BENCH_DEBS))
	$(PY) -c "import turbojpeg, jpeg2dct" 2>/dev/null || $(PY) -m pip install --quiet -e ".[bench]"
	$(PY) datasets/prepare_demo.py

# Tables on stdout; JSON beside them in output/benchmarks/ (docs/performance.md).
benchmark: bench-deps
	$(PY) benchmarks/bench_mapper.py --repeat 5 --output output/benchmarks/mapper.json
	$(PY) benchmarks/bench_dct.py
	$(PY) benchmarks/bench_detection.py
	$(PY) benchmarks/flops_classification.py

# Does the frequency input pay off? RGB vs DCT arms (learned stems, a pretrained proxy, a 4x schedule,
# the gated twin) x 3-5 seeds on photo scenes and photo patches (mate-backgrounds) -> docs/study.json,
# docs/study.png and the spectral-sensitivity heat maps in docs/ (docs/study.md). Several hours on 2
# cores; resumes: finished runs are skipped, so it may be stopped and started again.
study: install $(PHOTO_DIR)
	$(PY) benchmarks/accuracy.py

# The same pipeline on tiny data, 2 iterations, one seed (checks it runs; numbers mean nothing).
study-quick: install $(PHOTO_DIR)
	$(PY) benchmarks/accuracy.py --quick

clean:
	rm -rf $(VENV) output build *.egg-info
