# Quick start:  make demo   (set up .venv, train + test the embedded demo)
#               make test   (set up .venv, run the test suite)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch/torchvision pair checked with mmengine 0.10.7 and mmpretrain 1.2.0.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.lcreg-installed
DEMO_CONFIG := configs/demo/lcreg_resnet32_digits-lt.py
DEMO_DIR := work_dirs/demo
# Test processes (pytest-xdist); each test module stays in one process so its
# module-scoped fixtures (tiny trained checkpoints) are built once.
TEST_WORKERS ?= 2

.PHONY: demo test setup clean

setup: $(STAMP)

$(STAMP): setup.py requirements/runtime.txt requirements/tests.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch, torchvision" 2>/dev/null || \
		$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q "setuptools<81"
	$(PY) -m pip install -q --no-build-isolation -e . -r requirements/tests.txt
	touch $(STAMP)

demo: $(STAMP)
	$(PY) tools/train.py $(DEMO_CONFIG) --work-dir $(DEMO_DIR)
	$(PY) tools/test.py $(DEMO_CONFIG) "$$(cat $(DEMO_DIR)/last_checkpoint)" \
		--work-dir $(DEMO_DIR) --out $(DEMO_DIR)/test_metrics.json

test: $(STAMP)
	$(PY) -m pytest tests -q -n $(TEST_WORKERS) --dist loadscope

clean:
	rm -rf $(VENV) work_dirs .cache
