# syntax=docker/dockerfile:1
# The one ragops image: the operator (`ragops run`, the default), the RAG gateway (`ragops gateway`)
# and the backup jobs (`ragops backup` / `ragops restore`).
#
#   docker build -t ghcr.io/ragops-dev/ragops:0.1.0 .
#
# Builder and final stage share the same base so the venv's interpreter links (/usr/local/bin/python3)
# resolve identically in both.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# Dependencies first (cached while only the source changes): resolve them from pyproject.toml alone.
COPY pyproject.toml README.md ./
RUN python -m venv /opt/ragops \
 && python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
    > /tmp/requirements.txt \
 && /opt/ragops/bin/pip install --only-binary=:all: -r /tmp/requirements.txt
# Then the project itself: build a wheel, install it (no dependency changes) into the venv.
COPY operator ./operator
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/ragops/bin/pip install --no-deps /wheels/ragops-*.whl \
 && /opt/ragops/bin/pip uninstall -y pip \
 && /opt/ragops/bin/ragops --help >/dev/null

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="ragops" \
      org.opencontainers.image.description="Kubernetes operator for production RAG stacks (Qdrant vector stores and RAG gateways)" \
      org.opencontainers.image.source="https://github.com/ragops-dev/ragops" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# Bytecode was compiled at install time; the root filesystem is read-only at run time (only /tmp is
# writable), so never try to write .pyc files or anything under HOME.
ENV PATH=/opt/ragops/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
COPY --from=builder /opt/ragops /opt/ragops
# Numeric non-root user (the restricted Pod Security Standard checks runAsNonRoot by UID), with a passwd entry:
# kopf names its peering identity after getpass.getuser(), which fails for a UID unknown to /etc/passwd.
RUN echo "ragops:x:65532:65532:ragops:/tmp:/usr/sbin/nologin" >> /etc/passwd \
 && echo "ragops:x:65532:" >> /etc/group
USER 65532:65532
# 8081: operator health, 9090: operator metrics; the gateway's port is set by the operator.
EXPOSE 8081 9090
ENTRYPOINT ["ragops"]
CMD ["run", "--all-namespaces"]
