# syntax=docker/dockerfile:1
# StreamHub: one image for the hub (default command), `recorder` and `classroom-agent`.
#
#   docker build -t streamhub .
#   docker run -p 8000:8000 streamhub                       # the hub on :8000
#   docker run streamhub recorder --help                    # the other console scripts
#   docker build --build-arg WITH_AUDIO=true -t streamhub .  # + PortAudio for classroom-agent
#
# Settings come from STREAMHUB_* variables (configs/streamhub.yaml documents each one); the
# image sets STREAMHUB_DATA_DIR=/data and STREAMHUB_PORT=8000. Change the port with
# STREAMHUB_PORT, not --port: the health check reads it.

# ---------------------------------------------------------------- builder: a venv with the wheel
FROM python:3.11-slim-bookworm AS builder

ARG WITH_AUDIO=false
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from pyproject.toml alone: this layer is reused while only code changes.
# Every dependency ships manylinux wheels (aiortc, av, opencv-python-headless, asyncpg, numpy),
# so no compiler is needed.
COPY pyproject.toml README.md ./
RUN python -c "import os, tomllib; \
p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
deps = p['dependencies'] + (p['optional-dependencies']['agent-audio'] if os.environ.get('WITH_AUDIO') == 'true' else []); \
open('/tmp/requirements.txt', 'w').write(chr(10).join(deps) + chr(10))" \
    && pip install -r /tmp/requirements.txt

# The packages themselves (.dockerignore lets only the sources in), built as a wheel. gcc builds
# the hub's C send path (streamhub/media/_rtpsend.c) in this stage only; the image gets the
# compiled module with the venv.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && pip install --no-deps /wheels/*.whl \
    && python -c "import streamhub.app, streamhub.media._rtpsend"

# ---------------------------------------------------------------- runtime
FROM python:3.11-slim-bookworm AS runtime

ARG WITH_AUDIO=false
# No extra Debian libraries are needed: the wheels bundle theirs (cv2 needs only zlib/libstdc++,
# both in the base image). PortAudio only for classroom-agent's local audio.
RUN if [ "$WITH_AUDIO" = "true" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends libportaudio2 \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && groupadd --system --gid 10001 streamhub \
    && useradd --system --uid 10001 --gid streamhub --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin streamhub \
    && mkdir -p /data \
    && chown streamhub:streamhub /data

COPY --from=builder /opt/venv /opt/venv
# streamhub/web.py serves the pages from <package>/../web, i.e. site-packages/web once installed.
COPY web /opt/venv/lib/python3.11/site-packages/web
# The documented defaults, for `streamhub serve --config /etc/streamhub/streamhub.yaml`.
COPY configs/streamhub.yaml /etc/streamhub/streamhub.yaml

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    STREAMHUB_DATA_DIR=/data \
    STREAMHUB_PORT=8000 \
    STREAMHUB_LOG_JSON=true

WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8000

# Liveness without curl. recorder / classroom-agent containers should disable it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('STREAMHUB_PORT', '8000'), timeout=4)"]

CMD ["streamhub", "serve", "--host", "0.0.0.0"]
