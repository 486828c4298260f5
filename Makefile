# Two commands on a fresh machine: `make demo` and `make test` (both set up .venv first).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.freqdet-installed
# torch/torchvision pair that imports together on Python 3.11 here (DESIGN.md §4).
TORCH := torch==2.14.1 torchvision==0.29.1
DEMO_DIR ?= output/demo

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

demo: install
	$(PY) tools/dct_energy.py --output $(DEMO_DIR)/dct_energy.png

benchmark: install
	$(PY) benchmarks/bench_dct.py

clean:
	rm -rf $(VENV) output build *.egg-info
