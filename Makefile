# The README's two commands: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Debian packages the tests need: a browser, a Redis server, PostgreSQL (tests/support/postgres.py
# starts its own server), ffmpeg's tools, PortAudio, iproute2 for netem.
# coturn (TURN), nftables (a school firewall), libnss3-tools (certutil: Chromium trusts a test
# CA) and caddy (the reverse proxy of configs/compose.yaml) for tests/net.
TEST_DEBS := chromium redis-server postgresql ffmpeg libportaudio2 iproute2 coturn nftables libnss3-tools caddy
# The classroom agent's tests: a real X server and window manager for its projector window, a
# sound server with a null sink (PortAudio reaches it through ALSA's pulse plugin), a Chinese
# font, and OCR that reads the window's Chinese back.
TEST_DEBS += xvfb openbox pulseaudio pulseaudio-utils libasound2-plugins fonts-noto-cjk \
	tesseract-ocr tesseract-ocr-chi-sim
# What a classroom PC needs besides pip packages (`make agent`): PortAudio and a Chinese font.
AGENT_DEBS := libportaudio2 fonts-noto-cjk

.PHONY: run test venv install install-test system-deps agent check lint bench clean

# pip and the build backend talk a lot (warnings, setuptools' editable-install banner): their
# output goes to a log in the venv, shown only when a step fails.
QUIETLY = > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; echo "failed; the log: $(VENV)/pip.log"; exit 1; }
# `make run` installs the project only when pyproject.toml, or the C source of the hub's send
# path that the install compiles, changed since the last install.
INSTALLED := $(VENV)/.installed

$(BIN)/python:
	@echo "Creating $(VENV) with $(PYTHON) ..."
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip $(QUIETLY)

venv: $(BIN)/python

$(INSTALLED): pyproject.toml streamhub/media/_rtpsend.c | $(BIN)/python
	@echo "Installing StreamHub and its packages into $(VENV) (the first time takes a minute) ..."
	@$(BIN)/pip install -q -e . $(QUIETLY)
	@touch $@

install: $(INSTALLED)

install-test: venv system-deps
	$(BIN)/pip install -q -e '.[test,agent]'
	@touch $(INSTALLED)

# The classroom agent on this machine (the command `make run` prints starts with it): its extra
# and, as root, its Debian packages. Quick when everything is there already.
agent: venv
	@$(MAKE) --no-print-directory system-deps TEST_DEBS="$(AGENT_DEBS)"
	@PYGAME_HIDE_SUPPORT_PROMPT=1 $(BIN)/python -c "import pygame, PIL, sounddevice, livekit" 2>/dev/null \
	  || { echo "Installing the classroom agent's packages into $(VENV) ..."; \
	       $(BIN)/pip install -q -e '.[agent]' $(QUIETLY); }

# Installs only what is missing, and only when running as root (CI, fresh Debian machines).
# A policy-rc.d keeps the packages' services (coturn, caddy, redis) from starting on install:
# the tests start their own, confined to loopback or to namespaces they make.
system-deps:
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then echo "installing Debian packages:$$missing"; \
	    made=""; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made=1; fi; \
	    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null; \
	    status=$$?; if [ -n "$$made" ]; then rm -f /usr/sbin/policy-rc.d; fi; [ $$status = 0 ] || exit $$status; \
	  else echo "missing Debian packages (install them as root):$$missing"; fi; \
	fi

# `make run HOST=0.0.0.0 PORT=8010 ARGS=--demo-reset`: ARGS go to `streamhub serve`.
ARGS ?=
run: install
	@$(BIN)/streamhub serve --host $(HOST) --port $(PORT) --demo --started-by make $(ARGS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The habits, checked before the suite: lint, formatting, and types (mypy strict on the files
# pyproject.toml names; about a second warm, 15 s from a cold cache).
test: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

check: lint test

bench: install-test
	$(BIN)/python bench/fanout.py

clean:
	rm -rf $(VENV) data .pytest_cache
