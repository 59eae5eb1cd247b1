# Two commands for a fresh machine: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.photorecon-installed
# The CPU build of torch unless an NVIDIA GPU is present (a plain `torch` pulls a CUDA build).
TORCH_CPU ?= torch==2.13.0
TORCH_GPU ?= torch
DEMO   := data/ds
OUT    := out/demo

.PHONY: setup demo test clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
		echo "NVIDIA GPU found: installing $(TORCH_GPU)"; $(BIN)/pip install -q "$(TORCH_GPU)"; \
	else \
		echo "no NVIDIA GPU: installing the CPU build $(TORCH_CPU)"; $(BIN)/pip install -q "$(TORCH_CPU)"; \
	fi
	$(BIN)/pip install -q -e '.[dev,diffusion]'
	touch $@

data/photos/manifest.json: | $(STAMP)
	$(BIN)/photorecon data fetch --dest data/photos

$(DEMO)/test/truth.csv: data/photos/manifest.json
	$(BIN)/photorecon data build data/photos $(DEMO) --seed 0 --force

# A short training of one seed model (the BiLSTM: one minute of training, bounded by time,
# not steps, so a slow or busy machine does not stretch it) joins the comparison.
demo: $(STAMP) $(DEMO)/test/truth.csv
	$(BIN)/photorecon models
	$(BIN)/photorecon train --config configs/bilstm.yaml --out runs/demo-bilstm \
		--set max_minutes=1 --set steps=1000000 --set eval_every=1000000 \
		--set data.val_split=$(DEMO)/val
	$(BIN)/photorecon evaluate $(DEMO)/test --models all,runs/demo-bilstm --csv $(OUT)/scores.csv
	$(BIN)/photorecon show $(DEMO)/test --models all,runs/demo-bilstm --count 6 --out $(OUT)/grid.png

# the suite on two worker processes (pytest-xdist): each test gets a core of its own
test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python -m pytest -n 2

clean:
	rm -rf $(VENV) out runs/demo-bilstm
