"""`harness selftest`: what a validator would do with a model, on a miner's machine, before committing it.

The same steps and the same code as a validator's round, minus the chain: the policy check from metadata (same
rules, same settings), exactly the files policy allows staged into a folder of their own (what a validator's
pinned fetch would put on disk, so nothing else in a local folder can influence the run), then
`harness.evaluation.stage.SandboxEvaluateStage` on that folder: the competition's seeded task set, the hardened
sandbox, the same scoring. The report is the evaluate report (`harness.evaluation.report.build_report`), so
`write_report` / `markdown_summary` render it; it keeps each task's full result (raw response, parsed calls),
where the round stores only the compact form.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import policies
from chain.base import Chain, epoch_start
from harness.errors import HarnessError, StageFailure
from harness.evaluation.pipeline import ResultCallback
from harness.evaluation.report import build_report
from harness.evaluation.results import TaskResult
from harness.evaluation.stage import SandboxEvaluateStage
from harness.feed.tasks import FeedTasks
from harness.feed.wiring import read_epoch_feed
from harness.models.content_hash import content_identity, file_sha256
from harness.models.fetch import download_pinned
from harness.models.prepare import PreparedModel, judge_fetched, worker_limits
from harness.models.ref import ModelRef, parse_model_ref
from harness.settings.root import Settings
from harness.tasks.families import count_settings
from policies.hub import HubClient
from policies.worker import report_from_dict
from scoring.aggregate import Estimate, combine, family_estimate


@dataclass
class PolicyOutcome:
    report: policies.PolicyReport
    files: list[str]  # what a validator's fetch would download
    revision: str | None


@dataclass
class SelftestResult:
    model: str
    allowed: bool
    policy: dict[str, Any]
    seed: str
    competition: str
    policy_text: str = ""
    identity: str | None = None
    report: dict[str, Any] | None = None


QUICK_TASKS = 4
"""Tasks per family of a quick selftest (the default on the CPU engine): the same generator, scorer and token cap
as a full run, fewer tasks, so a CPU machine answers in minutes (README, "Miner quick start")."""


def with_task_count(settings: Settings, n: int | None) -> Settings:
    """Settings with every family's task count set to `n` (None: unchanged)."""
    if n is None:
        return settings
    tasks = settings.tasks.model_copy(update=count_settings(n))
    return settings.model_copy(update={"tasks": tasks})


def with_quick_size(settings: Settings, n: int = QUICK_TASKS) -> Settings:
    """Settings with every family's count at most `n` (a family set smaller stays as it is)."""
    update = {name: min(n, int(getattr(settings.tasks, name))) for name in count_settings(n)}
    return settings.model_copy(update={"tasks": settings.tasks.model_copy(update=update)})


@dataclass(frozen=True)
class Plan:
    """What a selftest runs, said before it starts: the competition and its family weights, tasks per family, the
    token cap and the engine, and (quick) the full run's counts it stands in for."""

    competition: str
    families: dict[str, float]
    tasks: dict[str, int]
    max_tokens: int
    engine: str
    full_tasks: dict[str, int] | None = None

    def describe(self) -> str:
        weights = ", ".join(f"{f} {w:g}" for f, w in self.families.items())
        counts = ", ".join(f"{f} {n}" for f, n in self.tasks.items())
        line = (
            f"competition {self.competition} ({weights}); tasks: {counts}; token cap {self.max_tokens}; "
            f"engine {self.engine}"
        )
        if self.full_tasks is not None:
            full = ", ".join(f"{f} {n}" for f, n in self.full_tasks.items())
            line += f"; QUICK size (a validator runs {full}: --full for that)"
        return line


def plan_of(settings: Settings, competition: str, full: Settings | None = None) -> Plan:
    """The plan of a selftest with `settings` (`full`: the settings a full run would have, when quick)."""
    from harness.tasks.families import task_count

    if competition not in settings.competitions:
        raise HarnessError(f"unknown competition {competition!r}: one of {', '.join(sorted(settings.competitions))}")
    families = {f: w for f, w in settings.competitions[competition].families.items() if w > 0}
    return Plan(
        competition=competition,
        families=families,
        tasks={f: task_count(f, settings.tasks) for f in families},
        max_tokens=settings.evaluation.max_tokens,
        engine=settings.sandbox.engine,
        full_tasks={f: task_count(f, full.tasks) for f in families} if full is not None else None,
    )


def partial_score(results: Sequence[TaskResult], families: Mapping[str, float], level: float = 0.95) -> Estimate:
    """The competition score over the tasks done so far (Ctrl-C): each family's mean over its finished tasks,
    weighted as the competition weighs them. A family with no finished task counts 0, as a missing task does."""
    by_family: dict[str, list[float]] = {}
    for result in results:
        by_family.setdefault(result.family, []).append(float(result.score))
    estimates = {f: family_estimate(scores, level) for f, scores in sorted(by_family.items())}
    return combine(estimates, dict(families))


def full_interval_half_width(report: Mapping[str, Any], full_tasks: Mapping[str, int]) -> float | None:
    """About how wide (±) the full run's interval would be, from this run's per-family spread: each family's
    half-width shrinks as 1/sqrt(n) (the normal interval `family_estimate` uses), weighted as `combine` does."""
    weights = report.get("family_weights") or {}
    total = sum(w for w in weights.values() if w > 0)
    if total <= 0:
        return None
    half = 0.0
    for family, weight in weights.items():
        f = report["families"].get(family)
        if not f or not f.get("n") or weight <= 0:
            continue
        now = (f["high"] - f["low"]) / 2
        half += weight / total * now * math.sqrt(f["n"] / max(f["n"], full_tasks.get(family, f["n"])))
    return half


def check_policy(ref: ModelRef, settings: Settings) -> PolicyOutcome:
    """The validator's policy check (in the bounded worker) for a local folder or a Hub reference;
    `HarnessError` if no verdict."""
    if ref.is_hub:
        target: dict[str, Any] = {"repo_id": ref.repo_id, "revision": ref.revision}
    else:
        target = {"local": str(ref.path), "model": str(ref.path)}
    try:
        result = policies.check_in_worker(target, settings.policy, settings.hub, worker_limits(settings))
    except policies.CheckError as exc:
        raise HarnessError(" ".join(str(exc).split())) from None
    return PolicyOutcome(result.report, result.files, result.revision)


def stage_local(source: Path, files: list[str], dest: Path) -> dict[str, str]:
    """Copy exactly the allowed files (no symlinks followed) and return their sha256 digests."""
    digests = {}
    for path in files:
        digests[path] = file_sha256(source / path)
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / path, target, follow_symlinks=False)
        if file_sha256(target) != digests[path]:
            raise HarnessError(f"{path} changed while it was being copied")
    return digests


def stage_hub(repo_id: str, revision: str, files: list[str], dest: Path, settings: Settings) -> dict[str, str]:
    """Download exactly the allowed files at the pinned commit (the validator's fetch without a committed hash:
    a miner self-testing has none yet)."""
    try:
        with HubClient(settings.hub) as client:
            return download_pinned(client, repo_id, revision, files, dest)
    except policies.CheckError as exc:
        raise HarnessError(f"download failed: {' '.join(str(exc).split())}") from None


def _staged_files_allowed(model_dir: Path, settings: Settings, result: SelftestResult) -> bool:
    """The validator judges the fetched bytes before mounting them; so does selftest, on the staged copy."""
    try:
        judge_fetched(model_dir, settings, result.model)
    except StageFailure as exc:
        if exc.failure_class != "rejected":
            raise HarnessError(str(exc)) from None
        report = report_from_dict(exc.details)
        result.allowed, result.policy, result.policy_text = False, report.to_dict(), report.to_text()
        return False
    return True


def run_selftest(
    ref_text: str,
    settings: Settings,
    *,
    competition: str,
    seed: str,
    on_task_set: Callable[[int], None] | None = None,
    on_task: ResultCallback | None = None,
    work_dir: Path | None = None,
    feed: FeedTasks | None = None,
) -> SelftestResult:
    """Policy, staging, sandboxed evaluation. Raises `HarnessError` when the run cannot happen (no Docker, missing
    image, unreadable model, unknown competition) and `StageFailure` when the sandbox dies. `feed`: the epoch's
    task feed read as a validator reads it (`current_epoch_feed`), None without a feed."""
    ref = parse_model_ref(ref_text)
    if competition not in settings.competitions:
        raise HarnessError(f"unknown competition {competition!r}: one of {', '.join(sorted(settings.competitions))}")
    policy = check_policy(ref, settings)
    result = SelftestResult(
        model=policy.report.model or str(ref),
        allowed=policy.report.allowed,
        policy=policy.report.to_dict(),
        seed=seed,
        competition=competition,
        policy_text=policy.report.to_text(),
    )
    if not policy.report.allowed:
        return result
    files = policy.files
    if not files:
        raise HarnessError("policy allows no files to load")
    base = work_dir or settings.paths.selftest
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="selftest-", dir=base) as tmp:
        model_dir = Path(tmp) / "files"
        model_dir.mkdir()
        if ref.is_hub:
            digests = stage_hub(ref.repo_id, policy.revision or "", files, model_dir, settings)  # type: ignore[arg-type]
        else:
            digests = stage_local(ref.path, files, model_dir)  # type: ignore[arg-type]
        if not _staged_files_allowed(model_dir, settings, result):
            return result
        result.identity = content_identity(digests)
        prepared = PreparedModel(model_dir, result.identity, policy.report.facts, result.policy)
        result.report = evaluate_prepared(
            prepared, settings, competition, seed, result.model, on_task_set, on_task, feed=feed
        )
    return result


def evaluate_prepared(
    prepared: PreparedModel,
    settings: Settings,
    competition: str,
    seed: str,
    model: str,
    on_task_set: Callable[[int], None] | None = None,
    on_task: ResultCallback | None = None,
    stage: SandboxEvaluateStage | None = None,
    feed: FeedTasks | None = None,
) -> dict[str, Any]:
    """The validator's evaluate stage on a prepared model, as an evaluate report: the stage's summary (the
    score a validator records, not a recomputation) and every task's full result (raw response, parsed calls),
    so a miner sees what the model answered."""
    stage = stage or SandboxEvaluateStage(settings)
    tasks = stage.task_set(competition, seed, feed)
    if on_task_set is not None:
        on_task_set(len(tasks.task_set["tasks"]))
    started = time.perf_counter()
    deadline = time.monotonic() + settings.supervisor.model_time_budget_s
    try:
        evaluated = stage.evaluate(
            prepared, tasks, on_result=on_task or _ignore, deadline=deadline, stop=threading.Event()
        )
    except StageFailure as exc:
        raise HarnessError(f"{exc.stage} failed ({exc.failure_class}): {' '.join(str(exc).split())}") from None
    report = build_report(
        task_set=tasks.task_set,
        model=model,
        results=evaluated.results,
        family_weights=tasks.family_weights,
        evaluation=settings.evaluation,
        scoring=settings.scoring,
        competition=competition,
        wall_s=time.perf_counter() - started,  # sandbox start included: what the miner waited
        tasks_sent=evaluated.tasks_sent,
        summary=evaluated.summary,
    )
    report["content_identity"] = prepared.identity
    report["budget_exceeded"] = evaluated.over_budget
    return report


def current_epoch_feed(settings: Settings, chain: Chain) -> tuple[str, FeedTasks | None]:
    """(the current epoch's seed, its task feed) as a validator's round reads them now: the hash of the block
    opening the epoch, and the feed through the same reader (`harness.feed.wiring.read_epoch_feed`)."""
    seed_block = epoch_start(chain.current_block(), chain.tempo())
    return chain.block_hash(seed_block), read_epoch_feed(settings, chain, seed_block)


def _ignore(_result: TaskResult) -> None:
    pass
