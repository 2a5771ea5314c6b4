"""The host environment that image builds (`make images`) take their inputs from.

Image builds follow the host's pip set-up (its CA bundle, find-links, proxies) rather than harness settings, so
these variables are not `Settings` fields; they are read here, once, so that the image builder itself reads no
environment and a test can hand it any environment it likes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


@dataclass(frozen=True)
class BuildEnvironment:
    """Build inputs from the environment; an empty string means the variable is unset (or empty)."""

    ca_bundle: str = ""  # HARNESS_BUILD_CA_BUNDLE: wins over every pip source
    torch_wheel: str = ""  # HARNESS_TORCH_WHEEL: wins over pip's find-links
    pip_cert: str = ""
    pip_config_files: tuple[str, ...] = ()  # PIP_CONFIG_FILE, split on os.pathsep
    pip_find_links: tuple[str, ...] = ()  # PIP_FIND_LINKS, split on whitespace
    requests_ca_bundle: str = ""
    ssl_cert_file: str = ""
    proxies: Mapping[str, str] = field(default_factory=dict)  # the PROXY_VARS that are set and non-empty


def build_environment(environ: Mapping[str, str] | None = None) -> BuildEnvironment:
    """The build inputs from `environ` (the process environment by default)."""
    env = os.environ if environ is None else environ
    return BuildEnvironment(
        ca_bundle=env.get("HARNESS_BUILD_CA_BUNDLE", ""),
        torch_wheel=env.get("HARNESS_TORCH_WHEEL", ""),
        pip_cert=env.get("PIP_CERT", ""),
        pip_config_files=tuple(p for p in env.get("PIP_CONFIG_FILE", "").split(os.pathsep) if p),
        pip_find_links=tuple(env.get("PIP_FIND_LINKS", "").split()),
        requests_ca_bundle=env.get("REQUESTS_CA_BUNDLE", ""),
        ssl_cert_file=env.get("SSL_CERT_FILE", ""),
        proxies={k: env[k] for k in PROXY_VARS if env.get(k)},
    )
