# bgsite: `make run` serves the app, `make test` runs everything.
# Each target sets up only what is missing (venv, packages, model, numba cache).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export U2NET_HOME ?= $(CURDIR)/.cache/u2net
MODEL := $(U2NET_HOME)/u2netp.onnx
MODEL_INT8 := $(U2NET_HOME)/u2netp-int8.onnx
SERVE := $(PY) -m uvicorn bgsite.asgi:application --host $(HOST) --port $(PORT) --lifespan on --http bgsite.server:HttpProtocol --ws bgsite.server:WebSocketProtocol --no-access-log

.PHONY: run web worker test lint loadtest bench bench-gpu quality setup setup-dev migrate chromium clean messages compilemessages

run: setup migrate
	$(SERVE)

# Scaled topology: web processes without workers, and separate worker processes.
web: setup migrate
	EMBEDDED_WORKERS=0 $(SERVE)

worker: setup
	$(PY) manage.py runworker

# The test files run side by side, one pytest-xdist worker per core up to TEST_WORKERS_MAX
# (each file on one worker, so its fixtures are shared), the longest first, so that the workers
# finish together (tests/file_order.py); TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= auto
TEST_WORKERS_MAX ?= 4
test: setup-dev migrate lint chromium
	$(PY) -m pytest -n $(TEST_WORKERS) --maxprocesses $(TEST_WORKERS_MAX) --dist loadfile

# The browser tests drive Debian's Chromium (/usr/bin/chromium). Installed here where this
# user can (root, with apt-get), as CI does; elsewhere those tests are skipped and the
# test run's last lines say so, with the command that installs it.
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium for the browser tests (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
			|| echo "could not install chromium: the browser tests will be skipped"; \
	fi

# The long load runs (a short one is part of `make test`), over loopback only, each bounded in count
# and time: 200 concurrent /bgremove calls and a 500-file batch at once; the soak (SOAK_CALLS
# /bgremove calls of distinct real photos from SOAK_CLIENTS clients, then SOAK_SCALED photos through
# the scaled topology's batch API with a worker killed); the queue's own capacity on PostgreSQL.
# Figures go to bench/results/{loadtest,soak,queue_capacity}.json; docs/benchmarks.md quotes them.
SOAK_CALLS ?= 10000
SOAK_CLIENTS ?= 32
SOAK_SCALED ?= 2000
loadtest: setup-dev
	$(PY) -m tests.loadgen --bgremove 200 --batch 500 --output bench/results/loadtest.json
	$(PY) -m tests.soak --calls $(SOAK_CALLS) --clients $(SOAK_CLIENTS) --scaled $(SOAK_SCALED) \
		--output bench/results/soak.json
	$(PY) -m tests.queue_capacity --items 3000 --threads 8 --output bench/results/queue_capacity.json

# bgsite against rembg (`rembg p`, `rembg s`, the in-process ceiling) on this machine, the
# same images and model: prints a table, writes bench/results/latest.json, docs/benchmarks.md
# and its chart. Makes bench/.venv-rembg on first use. BENCH_QUICK=1 for a short run.
bench: setup-dev
	$(PY) -m bench.run

# The same on a machine with an NVIDIA GPU, once onnxruntime-gpu is in the venv (requirements-gpu.txt says how):
# for u2netp and u2net (where installed), bgsite's in-process ceiling, rembg's library and bgsite's server, each
# model's fp32 file on the GPU against its int8 copy on the CPU cores, in one run.
# Writes bench/results/gpu.json, which docs/benchmarks.md#on-a-gpu quotes. No setup step: it would put back
# the CPU wheel.
bench-gpu:
	$(PY) -m bench.gpu

# The quality guard: cutouts of composites with known alpha, per installed model
# (mean IoU, alpha error) and the confidence rule (bench/triage.py); writes bench/results/quality.json
# and docs/quality.md.
quality: setup-dev
	$(PY) -m bench.quality

lint: setup-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

# Translations (docs/translations.md). The compiled .mo files are committed, so serving needs
# no gettext; these two need GNU gettext (apt-get install gettext) and are for whoever changes
# strings: `messages` adds new marked strings to locale/*/LC_MESSAGES/*.po, `compilemessages`
# turns the translated .po files into the .mo files that are served.
LANGS := -l de -l es -l fr
MESSAGES_IGNORE := -i .venv -i .cache -i client -i bench -i data -i tests -i scripts -i node_modules
messages: setup
	$(PY) manage.py makemessages $(LANGS) $(MESSAGES_IGNORE) --no-location
	$(PY) manage.py makemessages -d djangojs $(LANGS) $(MESSAGES_IGNORE) --no-location

compilemessages: setup
	$(PY) manage.py compilemessages -i .venv -i .cache

setup: $(VENV)/.runtime $(MODEL) $(MODEL_INT8) $(VENV)/.numba-warm
setup-dev: setup $(VENV)/.dev

migrate: setup
	$(PY) manage.py migrate --noinput -v 0

$(VENV)/bin/python:
	@python=$$(scripts/find-python.sh) && echo "creating $(VENV) with $$python" && "$$python" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(MODEL): | $(VENV)/bin/python
	$(PY) scripts/fetch_model.py $(U2NET_HOME)

# The served default: u2netp quantized to int8 with onnxruntime's tools (about a minute, once);
# made again when the quantizer changes.
$(MODEL_INT8): scripts/quantize_model.py | $(MODEL) $(VENV)/.runtime
	rm -f $@
	$(PY) scripts/quantize_model.py $(U2NET_HOME)

# pymatting (imported by rembg) compiles numba functions on first import (~40 s);
# importing once here fills numba's on-disk cache inside the venv.
$(VENV)/.numba-warm: $(VENV)/.runtime
	@echo "warming numba's cache (first import of rembg, ~40 s once)"
	$(PY) -c "import rembg"
	touch $@

clean:
	rm -rf $(VENV) .cache data .pytest_cache .mypy_cache .ruff_cache
