"""Build the engine images this host can run: `python -m harness.sandbox.images` (what `make images` calls).

- base: `sandbox_images/base/bootstrap.sh` (debootstrap + docker import) when the configured base image is
  the bootstrapped tag; any other BASE_IMAGE (e.g. python:3.11-slim-bookworm) is pulled by the build itself.
- cpu: always. sglang: only where a GPU is visible (or asked for with `--engine sglang`).
- supervisor: the harness itself for docker-compose (compose/supervisor.Dockerfile, see `supervisor_image`).

Idempotent: each image carries a label with the hash of its inputs (Dockerfile, entrypoints, build args,
base image id); a tag whose label matches is not rebuilt. Build inputs that must not be committed go to the
gitignored `sandbox_images/.build/`: the torch CPU wheel (so pip in the build does not pull the multi-GB CUDA
build) and the CA bundle for a TLS-intercepting proxy (see README, "Building behind a TLS-intercepting proxy").
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from harness.errors import HarnessError
from harness.sandbox import supervisor_image
from harness.sandbox.config import SandboxConfig
from harness.sandbox.gpu import query_gpus
from harness.sandbox.runtime import docker_client
from harness.settings.build import BuildEnvironment, build_environment
from harness.settings.root import load_settings

IMAGES_DIR = Path(__file__).resolve().parents[2] / "sandbox_images"
BUILD_DIR = IMAGES_DIR / ".build"
INPUTS_LABEL = "io.harness.inputs"
TORCH_WHEEL_GLOB = "torch-2.13.0+cpu-cp311-*.whl"

INPUTS = {
    "cpu": ["cpu/Dockerfile", "cpu/serve_cpu.py", "common/sandbox-entry", "common/bounded_render.py"],
    "sglang": ["sglang/Dockerfile", "sglang/serve_sglang.py", "common/sandbox-entry", "common/bounded_render.py"],
}


@dataclass
class BuildResult:
    name: str
    tag: str
    built: bool
    seconds: float
    detail: str = ""


def _pip_config_values(key: str, env: BuildEnvironment) -> list[str]:
    """Values of a pip config key from the files pip reads (global, user, site), without running pip."""
    files = [Path("/etc/pip.conf"), Path("/etc/xdg/pip/pip.conf"), Path.home() / ".config/pip/pip.conf"]
    files += [Path(p) for p in env.pip_config_files]
    values = []
    for path in files:
        if not path.is_file():
            continue
        parser = configparser.ConfigParser()
        try:
            parser.read(path)
        except configparser.Error:
            continue
        for section in ("global", "install", "download"):
            if parser.has_option(section, key):
                values += parser.get(section, key).split()
    return values


def find_ca_bundle(env: BuildEnvironment) -> Path | None:
    """The CA bundle builds should trust: HARNESS_BUILD_CA_BUNDLE, else what the host's pip uses."""
    candidates = [env.ca_bundle, env.pip_cert, *_pip_config_values("cert", env), env.requests_ca_bundle]
    candidates.append(env.ssl_cert_file)
    for value in candidates:
        if value and Path(value).is_file():
            return Path(value)
    return None


def find_torch_wheel(env: BuildEnvironment) -> Path | None:
    """The host's torch CPU wheel: HARNESS_TORCH_WHEEL, else pip's find-links directories."""
    if env.torch_wheel:
        return Path(env.torch_wheel) if Path(env.torch_wheel).is_file() else None
    dirs = [*env.pip_find_links, *_pip_config_values("find-links", env), "/opt/wheels"]
    for entry in dirs:
        directory = Path(entry.removeprefix("file://"))
        if directory.is_dir():
            found = sorted(directory.glob(TORCH_WHEEL_GLOB))
            if found:
                return found[-1]
    return None


def prepare_build_dir(env: BuildEnvironment, log: Callable[[str], None]) -> None:
    """Fill the gitignored `.build/`: wheelhouse (torch) and the CA bundle (empty file = none needed)."""
    wheels = BUILD_DIR / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    wheel = find_torch_wheel(env)
    if wheel is None:
        log("no local torch CPU wheel found: the build will download torch (set HARNESS_TORCH_WHEEL)")
    else:
        target = wheels / wheel.name
        if not target.exists() or target.stat().st_size != wheel.stat().st_size:
            try:
                os.link(wheel, target)
            except OSError:
                shutil.copy2(wheel, target)
    ca = find_ca_bundle(env)
    ca_target = BUILD_DIR / "ca-bundle.crt"
    if ca is None:
        ca_target.write_bytes(b"")
    else:
        ca_target.write_bytes(ca.read_bytes())
        log(f"build will trust the CA bundle {ca}")


def inputs_hash(name: str, buildargs: dict[str, str], base_id: str) -> str:
    digest = hashlib.sha256()
    for rel in INPUTS[name]:
        digest.update(rel.encode() + b"\0" + (IMAGES_DIR / rel).read_bytes() + b"\0")
    digest.update(json.dumps(buildargs, sort_keys=True).encode())
    digest.update(base_id.encode())
    return digest.hexdigest()[:24]


def _image_id(client: docker.DockerClient, tag: str) -> str:
    try:
        return client.images.get(tag).id
    except docker.errors.ImageNotFound:
        return ""


def ensure_base(config: SandboxConfig, client: docker.DockerClient, log: Callable[[str], None]) -> None:
    if not config.base_image.startswith("harness-base:"):
        return  # a registry image: `FROM` pulls it
    if _image_id(client, config.base_image):
        log(f"{config.base_image} present")
        return
    env = {**os.environ, "BASE_TAG": config.base_image}
    result = subprocess.run(["bash", str(IMAGES_DIR / "base" / "bootstrap.sh")], env=env, check=False)
    if result.returncode != 0:
        raise HarnessError(f"bootstrapping the base image {config.base_image} failed (see the lines above)")


def build_one(
    name: str,
    tag: str,
    buildargs: dict[str, str],
    base_ref: str,
    client: docker.DockerClient,
    log: Callable[[str], None],
    force: bool = False,
    *,
    proxies: Mapping[str, str] | None = None,
    wanted: str | None = None,
    context: Callable[[], Path] | None = None,
    dockerfile: str | None = None,
) -> BuildResult:
    """Build `tag` unless its inputs label equals `wanted`; `context` prepares a build context lazily; `proxies`
    are passed as build args (they do not change what is built, so they are not in the inputs label)."""
    started = time.monotonic()
    wanted = wanted or inputs_hash(name, buildargs, _image_id(client, base_ref))
    previous = ""
    try:
        existing = client.images.get(tag)
        previous = existing.id
        if not force and (existing.labels or {}).get(INPUTS_LABEL) == wanted:
            return BuildResult(name, tag, False, 0.0, "up to date")
    except docker.errors.ImageNotFound:
        pass
    path = context() if context else IMAGES_DIR
    dockerfile = dockerfile or f"{name}/Dockerfile"
    log(f"building {tag} from {dockerfile}")
    stream = client.api.build(
        path=str(path),
        dockerfile=dockerfile,
        tag=tag,
        buildargs={**buildargs, **(proxies or {})},
        labels={INPUTS_LABEL: wanted},
        rm=True,
        forcerm=True,
        decode=True,
    )
    for chunk in stream:
        if "error" in chunk:
            raise HarnessError(f"building {tag} failed: {chunk['error'].strip()}")
        text = chunk.get("stream", "").rstrip()
        if text:
            log(text)
    if previous and previous != _image_id(client, tag):
        # The replaced image is untagged now; drop it unless a container still uses it.
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(previous)
    return BuildResult(name, tag, True, round(time.monotonic() - started, 1))


def build_images(
    config: SandboxConfig,
    engines: list[str] | None = None,
    *,
    build_env: BuildEnvironment,
    force: bool = False,
    supervisor_tag: str = "harness-supervisor:latest",
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> list[BuildResult]:
    client = docker_client(timeout=600)
    try:
        if engines is None:
            engines = ["cpu", "supervisor"] + (["sglang"] if query_gpus() else [])
        results = []
        proxies = build_env.proxies
        if "cpu" in engines:
            ensure_base(config, client, log)
            prepare_build_dir(build_env, log)
            args = {"BASE_IMAGE": config.base_image}
            results.append(
                build_one("cpu", config.cpu_image, args, config.base_image, client, log, force, proxies=proxies)
            )
        if "supervisor" in engines:
            ensure_base(config, client, log)
            results.append(build_supervisor(config, supervisor_tag, client, log, force, proxies=proxies))
        if "sglang" in engines:
            args = {"SGLANG_IMAGE": config.sglang_base_image}
            base = config.sglang_base_image
            results.append(build_one("sglang", config.sglang_image, args, base, client, log, force, proxies=proxies))
        return results
    finally:
        client.close()


def build_supervisor(
    config: SandboxConfig,
    tag: str,
    client: docker.DockerClient,
    log: Callable[[str], None],
    force: bool = False,
    *,
    proxies: Mapping[str, str] | None = None,
) -> BuildResult:
    """The validator service image (compose/supervisor.Dockerfile) over a host-made wheelhouse."""
    constraints = supervisor_image.frozen_constraints()
    wanted = supervisor_image.source_digest(constraints, _image_id(client, config.base_image))
    return build_one(
        "supervisor",
        tag,
        {"BASE_IMAGE": config.base_image},
        config.base_image,
        client,
        log,
        force,
        proxies=proxies,
        wanted=wanted,
        context=lambda: supervisor_image.prepare_context(constraints, log),
        dockerfile=str(supervisor_image.DOCKERFILE),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.sandbox.images", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--engine",
        action="append",
        choices=["cpu", "sglang", "supervisor"],
        help="image to build (repeatable); default: cpu, supervisor, and sglang where a GPU is visible",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        results = build_images(
            settings.sandbox,
            args.engine,
            build_env=build_environment(),
            force=args.force,
            supervisor_tag=settings.supervisor.image,
        )
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for result in results:
        state = f"built in {result.seconds}s" if result.built else result.detail
        print(f"{result.tag}: {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
