# The validator service image: `harness` (the project + its runtime deps), talking to the host's Docker engine
# through the mounted socket (compose/docker-compose.yml). Built by `make images` (python -m harness.sandbox.images)
# from the gitignored context compose/.build/supervisor/ that the builder fills with a host-made wheelhouse:
#   deps/       third-party wheels pinned to the host environment (one layer, cached across code changes)
#   project/    the subnet-harness wheel (a small layer, rebuilt when the code changes)
# No index is contacted during the build (`pip install --no-index`), so no registry, proxy or CA is needed.
ARG BASE_IMAGE=harness-base:bookworm-py311
FROM ${BASE_IMAGE}

COPY constraints.txt /tmp/constraints.txt
COPY deps/ /tmp/deps/
RUN set -eu; \
    python3 -m venv /opt/harness; \
    /opt/harness/bin/pip install --no-cache-dir --disable-pip-version-check --no-index --find-links /tmp/deps \
      --constraint /tmp/constraints.txt /tmp/deps/*.whl; \
    rm -rf /tmp/deps; \
    /opt/harness/bin/python -m compileall -q -j 0 /opt/harness/lib >/dev/null || true

COPY project/ /tmp/project/
RUN set -eu; \
    /opt/harness/bin/pip install --no-cache-dir --disable-pip-version-check --no-index --no-deps /tmp/project/*.whl; \
    rm -rf /tmp/project /tmp/constraints.txt; \
    /opt/harness/bin/harness --help >/dev/null

# Runs as root: it needs the Docker socket and creates sandbox socket dirs owned by the sandbox uid. The
# untrusted models never run here; they run in the hardened sandboxes this process starts.
ENV PATH=/opt/harness/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    HARNESS_LOG_JSON=true
LABEL org.opencontainers.image.title="harness-supervisor"
ENTRYPOINT ["harness"]
CMD ["run"]
