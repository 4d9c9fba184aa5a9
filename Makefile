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

benchmarks: install
	for script in benchmarks/*.py; do $(BIN)/python $$script --quick || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache
