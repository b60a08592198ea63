# The jenkins-broker image: `jenkins-broker serve` on cheroot, as a non-root user.
#
#   docker build -t jenkins-broker .
#   docker run --rm -e VAULT_ADDR=... -e JENKINS_BROKER_VAULT_AUTH=approle ... -p 127.0.0.1:8400:8400 jenkins-broker
#
# Any other subcommand runs the same way (`docker run ... jenkins-broker check`).
# docker-compose.yml builds it for both the one-shot bootstrap and the broker.

# Build stage: turn the source tree into a wheel (the build backend is fetched
# from PyPI here, so the runtime image carries no build tools).
FROM python:3.12.13-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY plugin/ plugin/
RUN python -m pip wheel --no-deps --wheel-dir /wheels .

# Runtime stage.
FROM python:3.12.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# The project and its runtime dependencies only (no dev extra).
COPY --from=build /wheels/ /tmp/wheels/
RUN python -m pip install /tmp/wheels/*.whl && rm -rf /tmp/wheels

# A fixed numeric uid/gid, so volumes shared between containers of this image
# (the compose file's /run/jenkins-broker) have one owner.
RUN groupadd --system --gid 10001 broker \
 && useradd --system --uid 10001 --gid broker --no-create-home \
            --home-dir /nonexistent --shell /usr/sbin/nologin broker \
 && install -d -o broker -g broker -m 0700 /run/jenkins-broker

# `jenkins-broker bootstrap` loads every policy in this directory.
COPY vault-policies/ /opt/jenkins-broker/vault-policies/
ENV JENKINS_BROKER_POLICIES_DIR=/opt/jenkins-broker/vault-policies

# Listen on every interface inside the container; publish the port on the
# host's loopback only (see docker-compose.yml) or behind TLS.
ENV JENKINS_BROKER_LISTEN=0.0.0.0:8400
EXPOSE 8400

USER 10001:10001
WORKDIR /run/jenkins-broker

# /v1/sys/health answers 200 only while the broker reaches an unsealed Vault.
# Python, because the slim image has no curl; https (not verified: it is the
# container's own loopback) when the broker serves TLS.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, ssl, urllib.request as r; host, _, port = os.environ.get('JENKINS_BROKER_LISTEN', '127.0.0.1:8400').rpartition(':'); host = host.strip('[]'); host = '127.0.0.1' if host in ('', '0.0.0.0', '::') else host; tls = bool(os.environ.get('JENKINS_BROKER_TLS_CERT')); ctx = ssl._create_unverified_context() if tls else None; r.urlopen(('https' if tls else 'http') + '://' + (('[' + host + ']') if ':' in host else host) + ':' + port + '/v1/sys/health', timeout=4, context=ctx)"]

ENTRYPOINT ["jenkins-broker"]
CMD ["serve"]
