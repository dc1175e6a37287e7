# Two entry points for a fresh machine: `make demo` and `make test`. Both bootstrap .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SHARED_TIKTOKEN := $(abspath ../shared/tiktoken)

ifneq ($(wildcard $(SHARED_TIKTOKEN)),)
export TIKTOKEN_CACHE_DIR ?= $(SHARED_TIKTOKEN)
endif
export STREAMLIT_BROWSER_GATHER_USAGE_STATS := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: bootstrap system-deps test test-main test-openai1 lint demo bench clean

$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# The compiled decoder (setup.py, collector/compiled.py) is rebuilt in place whenever the collector's
# sources change (modules left unchanged are skipped), so the tests never run a stale build.
$(VENV)/.decoder: $(VENV)/.installed $(wildcard collector/*.py collector/*.pxd)
	$(PY) setup.py -q build_ext --inplace
	touch $@

bootstrap: $(VENV)/.installed $(VENV)/.decoder

# Debian packages the tests drive for real (redis-server, chromium), and the C compiler for the
# compiled decoder. Installed only when missing.
system-deps:
	@missing=""; \
	command -v cc >/dev/null 2>&1 || missing="$$missing gcc"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "missing system packages:$$missing (install them with your package manager)"; exit 1; \
		fi; \
	fi

lint: bootstrap
	$(PY) -m ruff check .

test-main: system-deps bootstrap
	$(PY) -m pytest -q -p no:cacheprovider

# The instrumentation against the newest openai 1.x (the main venv has the newest 3.x).
VENV1 := $(VENV)-openai1
$(VENV1)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV1)
	$(VENV1)/bin/python -m pip install -q --upgrade pip
	$(VENV1)/bin/python -m pip install -q -e '.[dev]' 'openai<2'
	touch $@

test-openai1: system-deps $(VENV1)/.installed
	$(VENV1)/bin/python -m pytest -q -p no:cacheprovider tests/instrumentation

test: system-deps lint test-main test-openai1

demo: bootstrap
	$(VENV)/bin/tokentrail demo $(if $(CI),--no-dashboard,)

bench: bootstrap
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(VENV)-* build dist *.egg-info .pytest_cache .ruff_cache
