# `make demo` and `make test` work on a fresh machine: they create .venv,
# install the project (again only when pyproject.toml changed) and the Debian
# packages the tests drive (when missing and running as root).

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# postgresql: the team-store tests start a throwaway PostgreSQL cluster (they fail without it).
DEB_PACKAGES := git tmux bubblewrap ripgrep chromium postgresql

.PHONY: demo test lint bench setup debs clean smoke-openai smoke-anthropic

setup: $(STAMP) debs

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml examples/custom_tool/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	$(BIN)/python -m pip install -q -e examples/custom_tool
	touch $(STAMP)

debs:
	@missing=""; \
	for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages (run make setup as root; without postgresql the team-store tests fail):$$missing"; fi; \
	fi

# Exit status 4 means a person ended the session (quit or terminate): for a
# demo that is a normal way to stop, not a failed make.
demo: setup
	@$(BIN)/overseer demo; status=$$?; [ $$status -eq 0 ] || [ $$status -eq 4 ] || exit $$status

lint: $(STAMP)
	$(BIN)/ruff check overseer tools tui tests
	$(BIN)/ruff format --check overseer tools tui tests
	$(BIN)/mypy overseer

test: setup lint
	$(BIN)/python -m pytest -n 2 tests

bench: setup
	for b in tests/bench/*.py; do $(BIN)/python $$b || exit 1; done

# Real-model smoke runs (need a key; cost a few cents; never part of `make test`).
# MODEL=... overrides the model spec.
smoke-openai: setup
	@test -n "$$OPENAI_API_KEY$$OPENAI_BASE_URL" || { echo "set OPENAI_API_KEY (or OPENAI_BASE_URL for a local server)"; exit 2; }
	OVERSEER=$(BIN)/overseer examples/smoke_real_model.sh "$${MODEL:-openai:gpt-4.1-mini}"

smoke-anthropic: setup
	@test -n "$$ANTHROPIC_API_KEY$$ANTHROPIC_BASE_URL" || { echo "set ANTHROPIC_API_KEY (or ANTHROPIC_BASE_URL)"; exit 2; }
	OVERSEER=$(BIN)/overseer examples/smoke_real_model.sh "$${MODEL:-anthropic:claude-haiku-4-5}"

clean:
	rm -rf $(VENV) build *.egg-info
