# One image for every role meshtool plays in a cluster: the control plane and the injection
# webhook (`meshtool install` runs them), the sidecar `meshtool-proxy` and the init container
# `meshtool-init` (injected into application Pods).
#
#   docker build -t meshtool/meshtool:0.1.0 .
#
# The tag must match `meshtool --version`: install and injection default to
# meshtool/meshtool:<version> (override with --image). tests/test_dockerfile.py runs the install
# steps below in a fresh virtual environment; see its docstring for what it cannot check.
FROM python:3.11-slim

# iptables for `meshtool proxy init` (it calls iptables-restore); nothing else from the OS.
RUN apt-get update \
    && apt-get install -y --no-install-recommends iptables \
    && rm -rf /var/lib/apt/lists/*

# The package from the checkout: pyproject, the code and the data it ships (the schemas and the
# samples are reached through symlinks inside meshtool/).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas/ schemas/
COPY samples/ samples/
COPY meshtool/ meshtool/
RUN pip install --no-cache-dir /src && rm -rf /src

# Non-root by default, as the UID the sidecar runs as (1337: the one whose traffic is never
# redirected). The init container runs as root through its own securityContext.
RUN useradd --system --uid 1337 --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin meshtool
WORKDIR /
USER 1337:1337

# 15010 discovery, 15017 webhook, 15001/15006 sidecar capture, 15020 sidecar admin
EXPOSE 15010 15017 15001 15006 15020
ENTRYPOINT ["meshtool"]
CMD ["--help"]
