# digitlab: `make lab` opens the course, `make test` runs every test.
# Both create .venv when it is missing and install what they need into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8888
SAMPLE ?= data/samples/4096.png

.PHONY: lab test demo install install-test benchmarks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The pinned set Binder installs (binder/requirements.txt), then the package itself, editable.
$(VENV)/.installed: $(BIN)/python pyproject.toml binder/requirements.txt
	$(BIN)/python -m pip install --quiet -r binder/requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

lab: install
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.port=$(PORT)

test: install-test
	$(BIN)/python -m pytest

demo: install
	mkdir -p runs
	$(BIN)/digitlab read $(SAMPLE) --annotate runs/demo_annotated.png
	@echo "annotated image: runs/demo_annotated.png"

# Every benchmark in its quick mode (the full runs: see each script's docstring).
benchmarks: install
	$(BIN)/python benchmarks/read_bench.py --quick
	$(BIN)/python benchmarks/widget_latency.py --repeats 10
	$(BIN)/python benchmarks/train_speed.py --quick
	$(BIN)/python benchmarks/notebooks.py --mode quick

clean:
	rm -rf $(VENV) runs .pytest_cache
