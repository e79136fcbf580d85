# Litesmith: `make run` opens the app on a sample, `make test` runs the whole suite.
# Both create .venv and install everything on first use (pinned by constraints.txt).

VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.litesmith-installed
SAMPLE  ?= resources/samples/digits.keras
export TF_CPP_MIN_LOG_LEVEL ?= 2

# The X11 libraries Qt's xcb platform plugin loads (a desktop has them; a minimal system may not).
QT_SYSTEM_LIBS := libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 \
                  libxcb-xkb1 libxkbcommon-x11-0 libxcb-shape0 libxcb-randr0 libegl1 libgl1 libfontconfig1

.PHONY: system-deps run test test-serial test-fast lint bench samples screenshots package lock clean help

help:
	@echo "make run        set up and open the app on $(SAMPLE)"
	@echo "make test       set up and run the whole test suite"
	@echo "make test-fast  the suite without tests marked slow"
	@echo "make lint       ruff (whole tree) and mypy (core/ and gui/), configured in pyproject.toml"
	@echo "make test-serial  the suite in one process (no pytest-xdist)"
	@echo "make bench      run the speed/size benchmarks in bench/"
	@echo "make samples    rebuild resources/samples"
	@echo "make package    build the desktop bundle (PyInstaller)"
	@echo "make system-deps  Debian/Ubuntu: install the X11 libraries the window needs"

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,packaging]'
	@touch $(STAMP)

system-deps:
	apt-get install -y $(QT_SYSTEM_LIBS)

run: $(STAMP)
	@$(VENV)/bin/litesmith gui $(SAMPLE) || { status=$$?; \
	  echo "The window did not open (exit $$status). On a minimal Linux system Qt may miss X11 libraries:"; \
	  echo "  sudo make system-deps    (Debian/Ubuntu: $(QT_SYSTEM_LIBS))"; exit $$status; }

# One worker per core (pytest-xdist); a test file runs whole in one worker (--dist loadfile), so module
# fixtures (the zoos, the real window) are built once. Many tests wait on engine children: 2 workers on
# 2 cores took the suite from ~15 to ~10 minutes here.
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -n auto --dist loadfile --durations=15

test-serial: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest --durations=15

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m mypy

test-fast: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m "not slow"

bench: $(STAMP)
	@for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

samples: $(STAMP)
	$(PY) resources/build_samples.py

screenshots: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest tests/gui -k screenshot

package: $(STAMP)
	$(PY) packaging/build.py --check

lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable | grep -v '^litesmith' > constraints.txt

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
