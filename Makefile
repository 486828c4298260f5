# Two commands on a fresh machine: `make demo` and `make test` (both set up .venv first).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.freqdet-installed
# torch/torchvision pair that imports together on Python 3.11 here (DESIGN.md §4).
TORCH := torch==2.14.1 torchvision==0.29.1
DEMO_DIR ?= output/demo
DEMO_CONFIG ?= configs/Demo/mask_rcnn_dct24_R_50_FPN_demo.yaml

.PHONY: install test demo benchmark clean

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

test: install
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
		--output $(DEMO_DIR)/predictions.png --opts MODEL.PIXEL_STATS_FILE $(DEMO_DIR)/dct_stats.json \
		MODEL.WEIGHTS $(DEMO_DIR)/train/model_final.pth

benchmark: install
	$(PY) benchmarks/bench_dct.py
	$(PY) benchmarks/bench_detection.py

clean:
	rm -rf $(VENV) output build *.egg-info
