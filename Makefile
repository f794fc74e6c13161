# Two entry points: `make run` opens the GUI, `make test` runs the whole suite. Both create the
# environment first when needed (Python venv in .venv, Fashion-MNIST from Debian where apt exists).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ensgui-installed
FASHION := /usr/share/datasets/fashion-mnist
SYSTEM_PACKAGES := dataset-fashion-mnist libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 \
	libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xkb1 libxcb-shape0 \
	libxcb-randr0 libxcb-xinerama0 fonts-dejavu-core

.PHONY: run test env data bench clean

run: env data
	$(PY) -m ensgui

test: env data
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -ra

bench: env data
	$(PY) bench/throughput.py

env: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# Debian's packages bring the real Fashion-MNIST IDX files and the libraries Qt's xcb and offscreen
# platforms load; only missing ones are installed. Elsewhere the engine falls back to torchvision's
# download, and the data folder can be named with ENSGUI_DATA.
data:
	@if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then \
		missing=$$(for p in $(SYSTEM_PACKAGES); do \
			dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
		if [ -n "$$missing" ]; then \
			SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
			echo "installing Debian packages: $$missing"; \
			$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
		fi; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache
