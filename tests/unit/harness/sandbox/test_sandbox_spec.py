"""Pure parts of the sandbox: docker arguments (the hardening), engine launch lines, GPU selection, settings."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from docker.types import DeviceRequest
from pydantic import ValidationError

from harness.sandbox import (
    GpuInfo,
    GpuUnavailable,
    SandboxConfig,
    SandboxSpec,
    container_kwargs,
    engine_command,
    gpu_device_request,
    prepare_model_dir,
    select_gpu,
)
from harness.sandbox.gpu import parse_nvidia_smi
from harness.sandbox.images import find_ca_bundle, find_torch_wheel, inputs_hash
from harness.sandbox.probes import control_kwargs, evaluate
from harness.sandbox.spec import LABEL, LABEL_PID, resolve_user
from harness.settings.build import build_environment
from harness.settings.root import load_settings
from tests.support.paths import REPO_ROOT

MODEL = Path("/models/m")
SOCK = Path("/tmp/harness-sandbox-0/sb-1-abcd")


def kwargs_for(**overrides) -> dict:
    engine = overrides.pop("engine", "cpu")
    competition = overrides.pop("competition", None)
    spec = SandboxSpec.from_settings(SandboxConfig(), engine=engine, competition=competition, **overrides)
    return container_kwargs(spec, MODEL, SOCK, name="t")


def test_hardening_arguments() -> None:
    kw = kwargs_for(memory_limit="3g", pids_limit=100, tmpfs_size="256m", shm_size="64m", cpus=2.5)
    assert kw["network_mode"] == "none"
    assert kw["cap_drop"] == ["ALL"]
    assert kw["security_opt"] == ["no-new-privileges"]
    assert kw["read_only"] is True
    assert kw["init"] is True
    assert kw["pids_limit"] == 100
    assert kw["mem_limit"] == kw["memswap_limit"] == "3g"
    assert kw["shm_size"] == "64m"
    assert kw["nano_cpus"] == 2_500_000_000
    assert kw["environment"]["OMP_NUM_THREADS"] == "2"
    assert not kw["user"].startswith("0")
    assert all("size=256m" in opts and "nosuid" in opts for opts in kw["tmpfs"].values())
    mounts = {m["Target"]: m for m in kw["mounts"]}
    assert mounts["/model"]["ReadOnly"] is True and mounts["/model"]["Source"] == str(MODEL)
    assert mounts["/run/harness"]["ReadOnly"] is False and mounts["/run/harness"]["Source"] == str(SOCK)
    assert kw["labels"][LABEL] == "1" and kw["labels"][LABEL_PID] == str(os.getpid())
    assert "runtime" not in kw and "device_requests" not in kw
    assert "ports" not in kw and "privileged" not in kw


def test_optional_runtime() -> None:
    assert kwargs_for(runtime="runsc")["runtime"] == "runsc"


def test_gpu_engine_gets_exactly_one_gpu_by_id() -> None:
    kw = kwargs_for(engine="sglang", gpu_device="GPU-1234")
    (request,) = kw["device_requests"]
    assert isinstance(request, DeviceRequest)
    assert request["DeviceIDs"] == ["GPU-1234"]
    assert request["Count"] == 0  # never -1 ("all")
    assert request["Capabilities"] == [["gpu"]]
    assert kw["image"] == SandboxConfig().sglang_image


@pytest.mark.parametrize("bad", ["all", "0,1", "", "ALL"])
def test_gpu_request_refuses_anything_but_one_gpu(bad: str) -> None:
    with pytest.raises(ValueError):
        gpu_device_request(bad)


def test_gpu_engine_without_device_is_refused() -> None:
    with pytest.raises(ValueError, match="gpu_device"):
        kwargs_for(engine="sglang")


def test_cpu_command_is_pinned_local_and_without_remote_code() -> None:
    cmd = engine_command(SandboxSpec.from_settings(SandboxConfig(seed=7, engine_port=9000)))
    assert cmd[:3] == ["python", "/opt/engine/serve_cpu.py", "/model"]
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--port") + 1] == "9000"
    assert cmd[cmd.index("--default-seed") + 1] == "7"
    assert cmd[cmd.index("--render-timeout-s") + 1] == "10"  # chat-template renders bounded in the engine
    assert "--no-trust-remote-code" in cmd and "--trust-remote-code" not in cmd


def test_sglang_command_from_settings() -> None:
    config = SandboxConfig.model_validate(
        {
            "seed": 3,
            "sglang": {"mem_fraction_static": 0.7, "context_length": 4096, "tool_call_parsers": {"sn20": "pythonic"}},
        }
    )
    cmd = engine_command(SandboxSpec.from_settings(config, engine="sglang", competition="sn20"))
    assert cmd[:2] == ["python3", "/opt/engine/serve_sglang.py"]  # sglang's launcher, renders bounded
    pairs = dict(zip(cmd[2::2], cmd[3::2], strict=False))
    assert pairs["--render-timeout-s"] == "10"
    assert pairs["--model-path"] == "/model"
    assert pairs["--host"] == "127.0.0.1"
    assert pairs["--mem-fraction-static"] == "0.7"
    assert pairs["--context-length"] == "4096"
    assert pairs["--random-seed"] == "3"
    assert pairs["--tool-call-parser"] == "pythonic"
    assert not any("trust-remote-code" in part for part in cmd)


def test_sglang_command_without_parser_or_context_length() -> None:
    config = SandboxConfig.model_validate({"sglang": {"context_length": None, "tool_call_parsers": {}}})
    cmd = engine_command(SandboxSpec.from_settings(config, engine="sglang", competition="caption"))
    assert "--tool-call-parser" not in cmd and "--context-length" not in cmd


def test_settings_section_from_env_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_SANDBOX__PIDS_LIMIT", "99")
    settings = load_settings(['sandbox.sglang.tool_call_parsers={"sn20": "llama3"}', "sandbox.engine=sglang"])
    assert settings.sandbox.pids_limit == 99
    assert settings.sandbox.engine == "sglang"
    assert settings.sandbox.sglang.tool_call_parsers == {"sn20": "llama3"}


@pytest.mark.parametrize("user", ["0", "0:0", "1000:0", "root", "abc"])
def test_root_or_odd_users_are_rejected(user: str) -> None:
    with pytest.raises(ValidationError):
        SandboxConfig(user=user)


def test_parser_names_must_be_plain() -> None:
    with pytest.raises(ValidationError):
        SandboxConfig.model_validate({"sglang": {"tool_call_parsers": {"x": "hermes --trust-remote-code"}}})


def test_resolve_user_never_root() -> None:
    assert resolve_user(None, euid=0, egid=0) == (10001, 10001)
    assert resolve_user(None, euid=1000, egid=1000) == (1000, 1000)
    assert resolve_user("2000:3000", euid=0, egid=0) == (2000, 3000)
    assert resolve_user("2000", euid=0, egid=0) == (2000, 2000)


GPUS = [GpuInfo(0, "GPU-aaa", "H100", 81559, 80000), GpuInfo(1, "GPU-bbb", "H100", 81559, 1000)]


def test_select_gpu_by_index_and_uuid() -> None:
    assert select_gpu("0", GPUS, 2048).uuid == "GPU-aaa"
    assert select_gpu("GPU-aaa", GPUS, 2048).index == 0


def test_select_gpu_refuses_busy_or_unknown_gpu() -> None:
    with pytest.raises(GpuUnavailable, match="1000 MiB free"):
        select_gpu("1", GPUS, 2048)
    with pytest.raises(GpuUnavailable, match="not found"):
        select_gpu("7", GPUS, 0)


def test_parse_nvidia_smi() -> None:
    text = "0, GPU-aaa, NVIDIA H100 80GB HBM3, 81559, 80000\n1, GPU-bbb, NVIDIA A10, 23028, 100\n"
    gpus = parse_nvidia_smi(text)
    assert gpus[1] == GpuInfo(1, "GPU-bbb", "NVIDIA A10", 23028, 100)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can make files the sandbox user cannot read")
def test_prepare_model_dir_never_changes_source_files(tmp_path: Path) -> None:
    """On main, root staging chowned and chmodded the model's files; a hard link made that a change to a file
    anywhere else on the host. Now an unreadable model is mounted from a readable copy."""
    elsewhere = tmp_path / "etc-shadow-like"
    elsewhere.write_bytes(b"secret")
    elsewhere.chmod(0o600)
    model = tmp_path / "m"
    model.mkdir(mode=0o700)
    os.link(elsewhere, model / "w.safetensors")
    before = elsewhere.stat()
    mounted, staged = prepare_model_dir(model, 10001, 10001)
    after = elsewhere.stat()
    assert (after.st_uid, after.st_gid, after.st_mode) == (before.st_uid, before.st_gid, before.st_mode)
    assert staged is not None and mounted != model.resolve()
    copy = (mounted / "w.safetensors").stat()
    assert copy.st_ino != before.st_ino and copy.st_mode & stat.S_IROTH and not copy.st_mode & stat.S_IWOTH
    assert (mounted / "w.safetensors").read_bytes() == b"secret"


def test_readable_model_is_mounted_in_place(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir(mode=0o755)
    (model / "w.safetensors").write_bytes(b"x")
    (model / "w.safetensors").chmod(0o644)
    for parent in (tmp_path,):
        parent.chmod(0o755)
    assert prepare_model_dir(model, 10001, 10001) == (model.resolve(), None)


def test_prepare_model_dir_rejects_missing(tmp_path: Path) -> None:
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="does not exist"):
        prepare_model_dir(tmp_path / "nope", 10001, 10001)


ISOLATED = {
    "uid": 10001,
    "cap_eff": 0,
    "no_new_privs": 1,
    "interfaces": ["lo"],
    "routes": 0,
    "root_writable": False,
    "model_writable": False,
    "connect": {"172.17.0.1:5": False},
}
CONTROL = {
    "uid": 0,
    "cap_eff": 0xA80425FB,
    "no_new_privs": 0,
    "interfaces": ["eth0", "lo"],
    "routes": 2,
    "root_writable": True,
    "model_writable": True,
    "connect": {"172.17.0.1:5": True},
}


def test_probe_evaluation_passes_only_when_control_shows_the_capability() -> None:
    assert all(r.passed for r in evaluate(ISOLATED, CONTROL, 0, 1))
    # A control that could not connect either makes the network probe vacuous: it must fail.
    vacuous = evaluate(ISOLATED, {**CONTROL, "connect": {"172.17.0.1:5": False}}, 0, 0)
    assert not next(r for r in vacuous if r.name == "no-host-network").passed
    leaky = evaluate({**ISOLATED, "interfaces": ["eth0", "lo"]}, CONTROL, 0, 1)
    assert not next(r for r in leaky if r.name == "only-loopback").passed


def test_control_run_drops_hardening() -> None:
    relaxed = control_kwargs(kwargs_for(), MODEL)
    assert relaxed["network_mode"] == "bridge" and relaxed["user"] == "0:0" and relaxed["read_only"] is False
    assert "cap_drop" not in relaxed and "security_opt" not in relaxed


def test_inputs_hash_depends_on_build_args() -> None:
    assert inputs_hash("cpu", {"BASE_IMAGE": "a"}, "id") != inputs_hash("cpu", {"BASE_IMAGE": "b"}, "id")
    assert inputs_hash("cpu", {"BASE_IMAGE": "a"}, "id") == inputs_hash("cpu", {"BASE_IMAGE": "a"}, "id")


def test_ca_bundle_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle, pip_cert = tmp_path / "ca.crt", tmp_path / "pip.crt"
    for path in (bundle, pip_cert):
        path.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("HARNESS_BUILD_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("PIP_CERT", str(pip_cert))
    assert find_ca_bundle(build_environment()) == bundle
    monkeypatch.setenv("HARNESS_BUILD_CA_BUNDLE", str(tmp_path / "missing.crt"))
    assert find_ca_bundle(build_environment()) == pip_cert  # a bundle that is not there falls through


def test_torch_wheel_named_in_the_environment_wins_over_find_links(tmp_path: Path) -> None:
    links = tmp_path / "links"
    links.mkdir()
    (links / "torch-2.13.0+cpu-cp311-cp311-linux_x86_64.whl").write_bytes(b"")
    explicit = tmp_path / "torch.whl"
    explicit.write_bytes(b"")
    env = {"PIP_FIND_LINKS": f"file://{links}", "PIP_CONFIG_FILE": str(tmp_path / "none.conf")}
    assert find_torch_wheel(build_environment(env)) == links / "torch-2.13.0+cpu-cp311-cp311-linux_x86_64.whl"
    assert find_torch_wheel(build_environment(env | {"HARNESS_TORCH_WHEEL": str(explicit)})) == explicit
    assert build_environment({"HTTPS_PROXY": "http://p:3128", "NO_PROXY": ""}).proxies == {
        "HTTPS_PROXY": "http://p:3128"
    }


@pytest.mark.gpu
def test_check_gpu_on_a_real_gpu() -> None:
    from harness.sandbox import check_gpu, query_gpus

    gpus = query_gpus()
    assert gpus, "nvidia-smi/NVML report no GPU although one is visible"
    first = gpus[0]
    assert check_gpu(str(first.index), 0) == select_gpu(first.uuid, gpus, 0) == first
    with pytest.raises(GpuUnavailable, match="MiB free"):
        check_gpu(first.uuid, first.memory_total_mib + 1)
    kw = kwargs_for(engine="sglang", gpu_device=first.uuid)
    assert kw["device_requests"][0]["DeviceIDs"] == [first.uuid]


def test_sglang_tool_call_parser_typo_is_a_config_error() -> None:
    """`llama32` is not a parser of the pinned sglang: the settings refuse it instead of every miner crashing."""
    with pytest.raises(ValidationError, match="'llama32' for 'toolcall' is not one of sglang"):
        SandboxConfig.model_validate({"sglang": {"tool_call_parsers": {"toolcall": "llama32"}}})
    with pytest.raises(ValidationError, match="'auto'"):
        SandboxConfig.model_validate({"sglang": {"tool_call_parsers": {"toolcall": "auto"}}})
    assert SandboxConfig.model_validate({"sglang": {"tool_call_parsers": {"toolcall": "llama3"}}})


def test_sglang_deterministic_inference_on_by_default() -> None:
    assert "--enable-deterministic-inference" in engine_command(
        SandboxSpec.from_settings(SandboxConfig(), engine="sglang")
    )
    off = SandboxSpec.from_settings(SandboxConfig(), engine="sglang", sglang={"deterministic_inference": False})
    assert "--enable-deterministic-inference" not in engine_command(off)


def test_memory_bytes_reads_docker_sizes() -> None:
    from harness.sandbox.spec import memory_bytes

    assert memory_bytes("8g") == 8 << 30
    assert memory_bytes("512M") == 512 << 20
    assert memory_bytes("1048576") == 1 << 20
    with pytest.raises(ValueError, match="not a memory size"):
        memory_bytes("lots")


def test_cpu_continuous_batching_is_off_by_default_and_bounded_when_on() -> None:
    """Off: outputs must not depend on batch neighbours. On: the KV cache is a share of the sandbox's limit."""
    default = engine_command(SandboxSpec.from_settings(SandboxConfig(), engine="cpu"))
    assert "--continuous-batching" not in default
    spec = SandboxSpec.from_settings(
        SandboxConfig(), engine="cpu", memory_limit="4g", cpu={"continuous_batching": True, "kv_cache_fraction": 0.25}
    )
    command = engine_command(spec)
    assert "--continuous-batching" in command
    assert command[command.index("--kv-cache-bytes") + 1] == str(1 << 30)


def test_cpu_engine_wrapper_turns_the_kv_bound_into_a_share_of_the_ram_it_sees() -> None:
    """transformers sizes the cache as a share of the RAM it sees (the host's); the share must cap it at the
    bytes the harness allowed, and the harness's own option must not reach transformers."""
    import importlib.util

    import psutil

    path = REPO_ROOT / "sandbox_images" / "cpu" / "serve_cpu.py"
    module_spec = importlib.util.spec_from_file_location("serve_cpu", path)
    assert module_spec and module_spec.loader
    serve_cpu = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(serve_cpu)
    argv = ["/model", "--continuous-batching", "--kv-cache-bytes", str(1 << 30), "--port", "8000"]
    out = serve_cpu._bound_kv_cache(argv)
    assert "--kv-cache-bytes" not in out and out[-2:] == ["--port", "8000"]
    share = float(out[out.index("--cb-max-memory-percent") + 1])
    assert share * psutil.virtual_memory().total <= (1 << 30) * 1.0001
    assert serve_cpu._bound_kv_cache(["/model", "--port", "8000"]) == ["/model", "--port", "8000"]
