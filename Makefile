# Everyday targets. The environment comes from ./setup.sh (.venv); nothing here installs.
PY := .venv/bin/python
CODE := src flows tasks tests benchmarks

.PHONY: help setup demo test test-slow test-ui test-all lint format types deps check ci

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup:  ## apt packages + .venv with the locked dependencies
	./setup.sh --no-run

demo:  ## the pipeline on the demo sources (dvc repro as one Prefect flow)
	.venv/bin/ltxvoice pipeline

test:  ## the fast suite (the README's test command)
	$(PY) -m pytest -q

test-slow:  ## the slow suites: whole dvc repro runs, the formant matrix, ...
	$(PY) -m pytest -q -m slow

test-ui:  ## the Prefect UI in headless Chromium (real server, serve and browser; about a minute)
	$(PY) -m pytest -q -m ui

test-all: test test-slow test-ui  ## all three

lint:  ## ruff lint
	.venv/bin/ruff check $(CODE)

format:  ## ruff format (rewrites files) and the import order
	.venv/bin/ruff check --select I --fix $(CODE)
	.venv/bin/ruff format $(CODE)

types:  ## mypy on src/ flows/ tasks/
	.venv/bin/mypy

deps:  ## write each stage's code deps (its import closure) into the dvc.yaml files
	.venv/bin/ltxvoice deps write

check:  ## what CI checks before the tests: lint, format, types, code deps
	.venv/bin/ruff check $(CODE)
	.venv/bin/ruff format --check $(CODE)
	.venv/bin/mypy
	.venv/bin/ltxvoice deps check

ci:  ## exactly what CI runs, from setup on
	./.ci/run
