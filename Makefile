# The two commands a newcomer needs: `make repro` (set up + run the pipeline) and `make test` (set up + test).
VENV ?= .venv
PYTHON ?= python3
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: venv data stage-deps plots-template repro quick promote test bench bench-smoke docs clean-venv

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

data:
	bash scripts/link-data.sh

# Which model code each approach's stages depend on (stages/approaches.yaml, read by dvc.yaml): after adding an
# approach or changing a model kind in params.yaml.
stage-deps: venv
	python scripts/stage_deps.py write

# The page `dvc plots show` fills, with vega inlined from npm (.dvc/plots/index.html, committed: plots draw offline).
plots-template: venv
	cd scripts/plots_page && npm ci --no-audit --no-fund --ignore-scripts --legacy-peer-deps
	python scripts/plots_template.py

repro: venv data
	dvc repro

# The whole pipeline as the DVC experiment `quick` on a small subset (params_quick.yaml), in a temporary copy:
# nothing tracked changes (`dvc exp show` has its figures). A few minutes.
quick: venv data
	python scripts/quick.py

# The only way the package's models change: a full-data, up-to-date run's models/bundle/ -> meshfer/assets/models/.
promote: venv
	python -m meshfer.training.promote

# Tests run without the research datasets too: what needs them is skipped, with the reason listed.
test: venv
	-bash scripts/link-data.sh
	python -m pytest -q tests

bench: venv data
	pip install -q --no-deps -r bench/requirements-peer.txt
	python -m bench.run_all

# Every finished experiment (bench/finished/) end to end on a tiny subset of this checkout's pipeline outputs (run
# `make quick` and `dvc exp apply quick`, or `dvc repro`, first); results go to temporary folders.
bench-smoke: venv
	python -m bench.finished --smoke

# The pages under docs/ as a site in site/ (strict: a broken link or anchor fails), after checking that their
# generated tables match the result files (`python -m bench.report` rewrites them).
docs: venv
	python -m bench.report --check
	mkdocs build --strict

clean-venv:
	rm -rf $(VENV)
