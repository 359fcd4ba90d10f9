# faceinpaint — every target creates .venv when it is missing.
#   make demo   data + assets + the main job (notebook 00 → outputs/quickstart)
#   make test   the whole test suite (unit, papermill smoke runs, nbval), < 20 min on 2 cores
#   make lab    JupyterLab on notebooks/
#   make app    the exemplar picker (notebook 70) served by Voilà on localhost; prints the URL
#   make data   prepare data and assets only
#   make bench  benchmarks/*.py → benchmarks/results/*.json
#   make results  notebook 60 at its defaults → the README's results table and docs/results/
#   make gpu-check  every paper preset for a few training steps with AMP on CUDA → benchmarks/results/gpu_check.json
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.faceinpaint-installed
JOBS ?= 2
export OMP_NUM_THREADS ?= 1
export MPLBACKEND ?= Agg
export PYDEVD_DISABLE_FILE_VALIDATION = 1

.PHONY: demo test lab app chromium data bench gpu-check venv clean-outputs strip

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

data: $(STAMP)
	$(PY) -m faceinpaint data prepare

demo: data
	@mkdir -p outputs/quickstart
	$(VENV)/bin/papermill --no-progress-bar notebooks/00_quickstart.ipynb outputs/quickstart/00_quickstart.ipynb -p out_dir outputs/quickstart
	@echo "demo: figure and metrics in outputs/quickstart/"

test: data chromium
	$(PY) -m pytest -n $(JOBS) -p no:cacheprovider --durations=25 tests
	$(PY) -m pytest -p no:cacheprovider --nbval-lax --sanitize-with tests/nbval_sanitize.cfg notebooks/01_data.ipynb notebooks/02_masks.ipynb

# Debian's chromium for tests/test_app_browser.py (Playwright drives it; no `playwright install`)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "installing Debian's chromium (the browser test needs it)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

APP_PORT ?= 8866
app: data
	@echo "exemplar picker: http://127.0.0.1:$(APP_PORT)/   (first load ≈ 15 s: the notebook runs; Ctrl-C stops it)"
	$(VENV)/bin/voila notebooks/70_demo_exemplar_picker.ipynb --no-browser --port=$(APP_PORT) \
	  --Voila.ip=127.0.0.1 --Voila.port_retries=0

bench: data
	@mkdir -p benchmarks/results
	@set -e; for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b --out benchmarks/results; done

gpu-check: data
	@mkdir -p benchmarks/results
	$(PY) benchmarks/gpu_check.py --out benchmarks/results

# the README's results table (faceinpaint.results): notebook 60 at its defaults, then the table and figure
# from its metrics.json (docs/results/ holds the slim copy the table is regenerated from in make test)
.PHONY: results
results: data
	@mkdir -p outputs/60_evaluation
	$(VENV)/bin/papermill --no-progress-bar notebooks/60_evaluation.ipynb outputs/60_evaluation/60_evaluation.ipynb \
	  -p out_dir outputs/60_evaluation
	$(PY) -m faceinpaint results --metrics outputs/60_evaluation/metrics.json --out docs/results --readme README.md

lab: $(STAMP)
	$(PY) -m pip install --quiet jupyterlab
	$(VENV)/bin/jupyter lab notebooks/

strip: $(STAMP)
	$(VENV)/bin/nbstripout --keep-output --keep-count --keep-id notebooks/01_data.ipynb notebooks/02_masks.ipynb || true
	@for nb in notebooks/*.ipynb; do case $$nb in *01_data*|*02_masks*) ;; *) $(VENV)/bin/nbstripout $$nb ;; esac; done

clean-outputs:
	rm -rf outputs
