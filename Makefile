# The two commands of the README:
#   make reports   set up (venv + install) and run every study at its defaults into reports/
#   make test      set up and run the whole test suite (pytest + nbval over every notebook)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# torch==2.13.0: on these machines a CPU build from local disk; elsewhere PyPI's Linux build, which is the CUDA one
# (GBs, also on a CPU-only machine): TORCH_INDEX=https://download.pytorch.org/whl/cpu takes the CPU build instead.
TORCH  ?= torch==2.13.0
TORCH_INDEX ?=
# metadata.language_info: what a kernel writes when JupyterLab saves a notebook (its version, lexer): not the study
STRIP_KEYS := metadata.papermill cell.metadata.papermill cell.metadata.execution metadata.widgets metadata.language_info
PEERS_NODEPS := curvlinops-for-pytorch==3.0.1 backpack-for-pytorch==1.7.1

.PHONY: setup reports test test-fast gpu-test strip clean-venv

$(VENV)/.installed: pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "need Python >= 3.11: $(PYTHON) is " \
	  + sys.version.split()[0] + "; make PYTHON=python3.11 ...")' || test -x $(PY)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev,peers,gpu]"
	$(PY) -m pip install -q --no-deps $(PEERS_NODEPS)
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	-git rev-parse --git-dir >/dev/null 2>&1 && $(VENV)/bin/nbstripout --install \
	  && git config filter.nbstripout.extrakeys "$(STRIP_KEYS)"
	touch $@

setup: $(VENV)/.installed

reports: setup
	$(PY) -m workbench run-all

test: setup
	bash scripts/test.sh $(PY)

test-fast: setup
	$(PY) -m pytest -q -m "not slow" tests

gpu-test: setup  # refuses without a GPU: every test it selects would skip and pass
	@$(PY) -c 'import sys, torch; sys.exit(not torch.cuda.is_available() and "gpu-test: no CUDA device visible")'
	$(PY) -m pytest -q -p no:cacheprovider -m cuda tests

strip: setup
	$(VENV)/bin/nbstripout --extra-keys "$(STRIP_KEYS)" notebooks/*.ipynb tests/notebooks/*.ipynb

clean-venv:
	rm -rf $(VENV)
