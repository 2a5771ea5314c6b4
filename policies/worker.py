"""Policy checks in a child process with a deadline and an address-space cap.

Everything a check reads is chosen by the miner (or by whoever answers as the Hub): the bounds in the readers
and rules are the first line, this process boundary is the second. A check that runs past its deadline is
killed and reported as `CheckTimeout`; one that hits the memory cap is reported as `CheckResourceError`. Either
way the caller's process (the validator's round loop) never grows or stalls with it.

Protocol: the parent writes one JSON request on stdin, the child writes one JSON answer on stdout:
`{"ok": true, "report": {...}, "files": [...], "revision": ..., "peak_rss_bytes": N}` or
`{"ok": false, "kind": "check" | "unreachable" | "memory", "error": "one line"}`. The kind keeps the error's type
across the process boundary: a caller treats a Hub that could not be reached (try again later) apart from a
model that could not be checked.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from policies.config import HubConfig, PolicyConfig
from policies.engine import download_files, evaluate
from policies.errors import CheckError, HubUnreachable
from policies.local import LocalReader
from policies.manifest import build_manifest
from policies.report import PolicyReport, Violation

ANSWER_CAP = 64 * 1024 * 1024  # the child is ours, but its answer is still read with a bound
HUB_ANSWER_MARGIN_S = 3.0  # of a Hub check's deadline, left for the answer (and the CLI's own start, ~2 s)
HUB_KILL_GRACE_S = 2.0  # after a Hub check's deadline, before the worker is killed


def _with_peak(exc: CheckError, answer: dict[str, Any]) -> CheckError:
    exc.peak_rss_bytes = int(answer.get("peak_rss_bytes", 0))  # type: ignore[attr-defined]
    return exc


class CheckTimeout(CheckError):
    """The check did not finish before its deadline; the worker was killed."""


class CheckResourceError(CheckError):
    """The check needed more memory than the worker may use."""


ERROR_KINDS: dict[str, type[CheckError]] = {"memory": CheckResourceError, "unreachable": HubUnreachable}
"""The error a child's `kind` stands for in the parent (anything else is a plain `CheckError`)."""


@dataclass(frozen=True)
class WorkerLimits:
    deadline_s: float = 60.0
    memory_bytes: int = 1024**3


@dataclass
class WorkerResult:
    report: PolicyReport
    files: list[str]  # what a fetch downloads (`download_files`)
    revision: str | None
    peak_rss_bytes: int  # the child's own peak resident memory


def report_from_dict(doc: dict[str, Any]) -> PolicyReport:
    report = PolicyReport(model=doc["model"], facts=doc.get("facts") or {})
    report.violations = [Violation(v["rule"], v["message"]) for v in doc.get("violations", [])]
    return report


def check_in_worker(
    target: dict[str, Any],
    config: PolicyConfig,
    hub: HubConfig | None = None,
    limits: WorkerLimits | None = None,
) -> WorkerResult:
    """Run one check in a fresh child. `target` is `{"local": PATH, "deep": bool}` or
    `{"repo_id": ..., "revision": ...}`; raises `CheckError` (or a subclass) when no verdict comes back."""
    limits = limits or WorkerLimits()
    hub = hub or HubConfig()
    deadline_s = limits.deadline_s
    if "local" not in target:  # a Hub check has its own, shorter deadline; the kill is only the backstop
        deadline_s = min(deadline_s, hub.check_deadline_s + HUB_KILL_GRACE_S)
    request = {
        "target": target,
        "policy": config.model_dump(mode="json"),
        "hub": hub.model_dump(mode="json"),
        "memory_bytes": limits.memory_bytes,
        # Wall time, since the child's clock starts later: its requests end by the check's deadline counted from here,
        # less a margin for answering.
        "hub_deadline": time.time() + hub.check_deadline_s - min(HUB_ANSWER_MARGIN_S, 0.1 * hub.check_deadline_s),
    }
    # Few malloc arenas: each thread's arena reserves 64 MB of address space, which the cap would count.
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "policies.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(json.dumps(request).encode(), timeout=deadline_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise CheckTimeout(f"policy check did not finish within {deadline_s:g} s (worker killed)") from None
    if len(out) > ANSWER_CAP:
        raise CheckError("policy worker answered with more than its output cap")
    try:
        answer = json.loads(out.decode("utf-8")) if out else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        tail = " ".join(err.decode("utf-8", "replace").split()[-20:])
        if (proc.returncode and proc.returncode < 0) or "MemoryError" in tail:
            raise CheckResourceError(
                f"policy check exceeded the worker's memory cap of {limits.memory_bytes:,} bytes"
            ) from None
        raise CheckError(f"policy worker failed (exit {proc.returncode}): {tail or 'no output'}")
    if not answer.get("ok"):
        cls = ERROR_KINDS.get(str(answer.get("kind")), CheckError)
        raise _with_peak(cls(str(answer.get("error") or "policy check failed")), answer)
    return WorkerResult(
        report=report_from_dict(answer["report"]),
        files=list(answer["files"]),
        revision=answer.get("revision"),
        peak_rss_bytes=int(answer.get("peak_rss_bytes", 0)),
    )


def _run(request: dict[str, Any]) -> dict[str, Any]:
    config = PolicyConfig.model_validate(request["policy"])
    target = request["target"]
    if "local" in target:
        manifest = build_manifest(LocalReader(target["local"]), config, deep=bool(target.get("deep")))
        model = target.get("model") or target["local"]
    else:
        hub = HubConfig.model_validate(request["hub"])
        from policies import (
            build_hub_manifest,  # why: policies/__init__ imports this module; httpx stays out of local checks
        )

        deadline = time.monotonic() + (float(request["hub_deadline"]) - time.time())
        manifest = build_hub_manifest(target["repo_id"], target.get("revision"), config, hub, deadline=deadline)
        model = f"hf://{target['repo_id']}@{manifest.revision}"
    report = evaluate(manifest, config, model=model)
    return {
        "ok": True,
        "report": report.to_dict(),
        "files": download_files(manifest, config),
        "revision": manifest.revision,
    }


def _peak_rss_bytes() -> int:
    """This process's own high-water RSS (VmHWM). `ru_maxrss` would not do: Linux carries it across exec, so it
    reports the parent's size at fork when that was larger."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> int:
    """The child: cap the address space first, then read the request, check, answer."""
    raw = sys.stdin.buffer.read(ANSWER_CAP)
    request = json.loads(raw)
    cap = int(request["memory_bytes"])
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard if hard == resource.RLIM_INFINITY or hard >= cap else cap))
    try:
        answer = _run(request)
    except MemoryError:
        answer = {"ok": False, "kind": "memory", "error": f"policy check exceeded the memory cap of {cap:,} bytes"}
    except CheckError as exc:
        kind = "unreachable" if isinstance(exc, HubUnreachable) else "check"
        answer = {"ok": False, "kind": kind, "error": " ".join(str(exc).split())}
    answer["peak_rss_bytes"] = _peak_rss_bytes()
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
