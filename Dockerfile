# syntax=docker/dockerfile:1
# The socialcare image: one image for every service (`socialcare run <service>`; the Helm
# chart in charts/socialcare runs one Deployment per service from it).
#
#   docker build -t registry.example.com/socialcare:0.1.0 .
#
# Two stages on the same pinned base: the builder makes the package's wheel and installs it
# with its dependencies into a virtualenv (/opt/socialcare); the runtime copies only that
# virtualenv. The runtime runs as an unprivileged numeric user and writes nothing outside
# /data (SOCIALCARE_DATA_DIR) and /tmp, so it runs with a read-only root filesystem (the
# chart mounts emptyDirs there). Every dependency has binary wheels for amd64 and arm64, so
# the builder needs no compiler.

# python:3.11-slim-bookworm, pinned by digest (update both the tag and the digest together).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:528257d48c1da0dcecc2e725d1ae34498d60c965f1241e39cd6a85a8859bdf84

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/socialcare
# What the wheel is built from (pyproject's readme is part of its metadata), and the lock:
# the image installs the audited versions (`make audit`), as CI tests them.
COPY pyproject.toml README.md requirements.lock ./
COPY services ./services
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/socialcare/bin/pip install -c requirements.lock /wheels/*.whl \
    && /opt/socialcare/bin/python -m compileall -q /opt/socialcare/lib \
    && /opt/socialcare/bin/socialcare version

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="socialcare" \
      org.opencontainers.image.description="Event-driven social care platform" \
      org.opencontainers.image.licenses="Apache-2.0"
# Bytecode was compiled in the builder: nothing is written next to the code at run time.
ENV PATH=/opt/socialcare/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    SOCIALCARE_DATA_DIR=/data \
    SOCIALCARE_HTTP_HOST=0.0.0.0
RUN groupadd --system --gid 10001 socialcare \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin socialcare \
    && mkdir -p /data \
    && chown 10001:10001 /data
COPY --from=builder /opt/socialcare /opt/socialcare
USER 10001:10001
WORKDIR /data
# HTTP (REST, console, /metrics, /healthz, /readyz) and the gRPC ports: ingestion,
# routing's CaseService, sla's ReportService, the gateway's AgentService.
EXPOSE 8080 50051 50052 50053 50054
ENTRYPOINT ["socialcare"]
CMD ["run", "all"]
