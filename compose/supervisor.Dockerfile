# The validator service image: `harness` (the project + its runtime deps), talking to the host's Docker engine
# through the mounted socket (compose/docker-compose.yml). Built by `make images` (python -m harness.sandbox.images)
# from the gitignored context compose/.build/supervisor/ that the builder fills with a host-made wheelhouse:
#   deps/       third-party wheels pinned to the host environment (one layer, cached across code changes)
#   data-only/  packages the harness reads only data from (bfcl-eval: BFCL v4 files), installed without deps
#   project/    the subnet-harness wheel (a small layer, rebuilt when the code changes)
#   requirements.lock  the release's lock, kept at /opt/harness/ for the scoring fingerprint's check
# No index is contacted during the build (`pip install --no-index`), so no registry, proxy or CA is needed.
ARG BASE_IMAGE=harness-base:bookworm-py311
FROM ${BASE_IMAGE}

COPY constraints.txt /tmp/constraints.txt
COPY deps/ /tmp/deps/
COPY data-only/ /tmp/data-only/
RUN set -eu; \
    python3 -m venv /opt/harness; \
    /opt/harness/bin/pip install --no-cache-dir --disable-pip-version-check --no-index --find-links /tmp/deps \
      --constraint /tmp/constraints.txt /tmp/deps/*.whl; \
    if ls /tmp/data-only/*.whl >/dev/null 2>&1; then \
      /opt/harness/bin/pip install --no-cache-dir --disable-pip-version-check --no-index --no-deps /tmp/data-only/*.whl; \
    fi; \
    rm -rf /tmp/deps /tmp/data-only; \
    /opt/harness/bin/python -m compileall -q -j 0 /opt/harness/lib >/dev/null || true

COPY requirements.lock /opt/harness/requirements.lock
COPY project/ /tmp/project/
RUN set -eu; \
    /opt/harness/bin/pip install --no-cache-dir --disable-pip-version-check --no-index --no-deps /tmp/project/*.whl; \
    rm -rf /tmp/project /tmp/constraints.txt; \
    /opt/harness/bin/harness --help >/dev/null; \
    /opt/harness/bin/python -c "from harness.tasks.bfcl import default_data_dir; assert default_data_dir().is_dir()"

# Runs as root: it needs the Docker socket and creates sandbox socket dirs owned by the sandbox uid. The
# untrusted models never run here; they run in the hardened sandboxes this process starts.
ENV PATH=/opt/harness/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    HARNESS_LOG_JSON=true
LABEL org.opencontainers.image.title="harness-supervisor"
ENTRYPOINT ["harness"]
CMD ["run"]
