# The two commands a newcomer needs: `make repro` (set up + run the pipeline) and `make test` (set up + test).
VENV ?= .venv
PYTHON ?= python3
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: venv data repro test bench clean-venv

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

data:
	bash scripts/link-data.sh

repro: venv data
	dvc repro

# Tests run without the research datasets too: what needs them is skipped, with the reason listed.
test: venv
	-bash scripts/link-data.sh
	python -m pytest -q tests

bench: venv data
	pip install -q --no-deps -r bench/requirements-peer.txt
	python -m bench.run_all

clean-venv:
	rm -rf $(VENV)
