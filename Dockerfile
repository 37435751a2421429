# accessbot container image.
#
#   docker build -t accessbot .                                   # official python slim base, wheels built here
#   docker build --build-arg BASE_IMAGE=my-python:3.11 -t accessbot .
#
# BASE_IMAGE needs python3 (3.11+) with the venv module and useradd. When the build context holds a
# wheelhouse/ folder with wheels (accessbot's and all its dependencies', e.g. from `pip wheel . -w wheelhouse`),
# the image is built from it with --no-index and needs no network; otherwise the builder stage builds the
# wheels from the package index.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS builder
LABEL org.accessbot.stage=builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY . .
RUN set -eu; \
    python3 -m venv /opt/accessbot; \
    if ls wheelhouse/accessbot-*.whl >/dev/null 2>&1; then \
        echo "installing from the wheelhouse in the build context (--no-index)"; \
        /opt/accessbot/bin/pip install --no-index --find-links wheelhouse accessbot; \
    else \
        /opt/accessbot/bin/pip wheel --wheel-dir /tmp/wheels . ; \
        /opt/accessbot/bin/pip install --no-index --find-links /tmp/wheels accessbot; \
    fi; \
    /opt/accessbot/bin/pip uninstall -q -y pip setuptools; \
    /opt/accessbot/bin/accessbot --help >/dev/null

FROM ${BASE_IMAGE}
ENV PATH=/opt/accessbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ACCESSBOT_HOST=0.0.0.0 \
    ACCESSBOT_PORT=3000 \
    ACCESSBOT_POLICY=/etc/accessbot/policy.yml
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/accessbot --create-home \
        --shell /usr/sbin/nologin accessbot \
    && mkdir -p /etc/accessbot
COPY --from=builder /opt/accessbot /opt/accessbot
# The default SQLite database (accessbot.db) lands here; use PostgreSQL (DATABASE_URL) for replicas.
WORKDIR /var/lib/accessbot
USER accessbot
EXPOSE 3000
# Slim images have no curl: python's urllib fails (exit 1) on anything but a 2xx from /healthz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('ACCESSBOT_PORT', '3000'), timeout=4)"
ENTRYPOINT ["accessbot"]
CMD ["serve"]
