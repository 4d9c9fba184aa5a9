# digitlab: `make lab` opens the course, `make test` runs every test.
# Both create .venv when it is missing and install what they need into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8888
SAMPLE ?= data/samples/4096.png
# Jupyter refuses to run as root unless told: containers and many lab machines run as root.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--ServerApp.allow_root=True)

.PHONY: lab test check docs demo read install install-test benchmarks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The pinned set Binder installs (binder/requirements.txt), then the package itself, editable.
$(VENV)/.installed: $(BIN)/python pyproject.toml binder/requirements.txt
	$(BIN)/python -m pip install --quiet -r binder/requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# JAX goes in a folder of its own, seen only by the test that trains on it (tests/jax-backend.txt says why).
$(VENV)/.installed-test: $(VENV)/.installed tests/jax-backend.txt
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m pip install --quiet --no-deps --upgrade --target $(VENV)/jax-backend -r tests/jax-backend.txt
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

lab: install
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.port=$(PORT) $(LAB_ARGS)

test: install-test
	$(BIN)/python -m pytest

# The fast tier, under a minute: no notebooks, browser, shipped-model floors, trainings or distributed tuner.
check: install-test
	$(BIN)/python -m pytest tests -m "not slow and not browser and not training" --ignore=tests/test_tune_distributed.py

# The course rendered to HTML, figures included, in quick mode: build/course/index.html (not committed).
docs: install-test
	rm -rf build/course
	DIGITLAB_QUICK=1 $(BIN)/jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=900 \
		--output-dir build/course notebooks/[0-9]*.ipynb
	$(BIN)/python tools/course_index.py build/course

demo: install
	mkdir -p runs
	$(BIN)/digitlab read $(SAMPLE) --annotate runs/demo_annotated.png
	@echo "annotated image: runs/demo_annotated.png"

# make read IMAGE=photo.jpg: the digits in an image (the same as .venv/bin/digitlab read IMAGE).
read: install
	@test -n "$(IMAGE)" || { echo "usage: make read IMAGE=path/to/image.png" >&2; exit 2; }
	$(BIN)/digitlab read "$(IMAGE)"

# Every benchmark in its quick mode (the full runs: see each script's docstring), and the memory and time of
# reading the images made to cost the most (a few minutes: each is read in a fresh process).
benchmarks: install
	$(BIN)/python benchmarks/read_bench.py --quick
	$(BIN)/python benchmarks/widget_latency.py --repeats 10
	$(BIN)/python benchmarks/train_speed.py --quick
	$(BIN)/python benchmarks/train_memory.py --quick
	$(BIN)/python benchmarks/notebooks.py --mode quick
	$(BIN)/python benchmarks/memory_bench.py

clean:
	rm -rf $(VENV) runs .pytest_cache
