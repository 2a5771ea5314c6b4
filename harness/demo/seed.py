"""Demo miners: publish the bundled models into the local Hub mirror and commit them on the local chain.

`seed(settings)` gives `make harness-up` and the end-to-end tests a subnet with one miner of each kind:

| role    | hotkey (settings.demo) | model                                                   | expected outcome        |
|---------|------------------------|---------------------------------------------------------|-------------------------|
| good    | miner-good             | the demo VLM (harness/demo/vlm_train.py): sees images   | the highest weight      |
| worse   | miner-worse            | the demo VLM with seeded noise on its vision tower      | a lower weight          |
| text    | miner-text             | the real SmolLM2-135M-Instruct, text only               | lowest: captions score 0|
| copy    | miner-copy             | the good model's exact files, another repo, later block | nothing (a copy)        |
| hostile | miner-hostile          | SmolLM2 plus a malicious pickle and `auto_map` code     | rejected by policy      |
| junk    | miner-junk             | a malformed commitment                                  | recorded as unparseable |

`improve(settings)` (`harness demo improve`, run after a first round) adds one more miner, later than all of them:
`miner-better` commits the demo VLM trained further (harness/demo/vlm_improve.py), which is expected to take the
lead by beating the VLM by the margin (docs/scoring.md).

Every model miner commits to `settings.demo.competition` (any-to-any: tool calls and captions, half each).
The three models share SmolLM2's language model unchanged, so their tool-call answers match and the captions
order them. Each HASH is the hotkey-salted content hash over the files policy lets a fetch download, exactly what the
validator verifies. Seeding is idempotent: the mirror is content-addressed and a hotkey whose latest
commitment already says the same (and, for the copy, sits at a later block than the good one) is left alone.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import policies
from chain.base import ChainError
from chain.commitment import format as format_commitment
from chain.factory import open_local_chain
from chain.local import LocalChain
from harness.demo.bundled_models import (
    ensure_built,
    share_built,
    smollm2_dir,
    vlm_dir,
    vlm_improved_dir,
    vlm_noised_dir,
    vlm_ready,
)
from harness.demo.hub_mirror import Published, publish
from harness.errors import HarnessError
from harness.logging import get_logger
from harness.models.content_hash import salted_hash

log = get_logger(__name__)

GOOD_REPO = "demo/vlm-smollm2"
WORSE_REPO = "demo/vlm-smollm2-noised"
TEXT_REPO = "demo/smollm2-135m"
COPY_REPO = "copycat/vlm-smollm2"
HOSTILE_REPO = "demo/smollm2-135m-hostile"
BETTER_REPO = "demo/vlm-smollm2-improved"
JUNK_RAW = "demo/junk-model:main:not-a-content-hash"
HOSTILE_NAME = "smollm2-135m-hostile"
ROLES = ("good", "worse", "text", "copy", "hostile", "junk")


@dataclass(frozen=True)
class DemoCommitment:
    """One demo miner's commitment after seeding; `committed` is False when the chain already had it."""

    role: str
    hotkey: str
    uid: int
    block: int
    raw: str
    committed: bool
    model_ref: str | None = None
    content_hash: str | None = None  # 64 hex, as the validator compares it
    files: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {**asdict(self), "files": list(self.files)}


class _Hostile:
    """Unpickling this would run a shell command. It is only ever pickled (written), never loaded."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("echo 'a demo pickle ran code on the validator' > /tmp/harness-demo-pwned",))


HOSTILE_CODE = '''"""Custom model code a hostile repo asks transformers to run (trust_remote_code). Never executed."""
import os

os.system("echo 'remote code ran on the validator' > /tmp/harness-demo-pwned")
'''


def _build_hostile(out: Path, cache_dir: Path) -> None:
    """SmolLM2's files (weights hardlinked where possible), plus a pickle weight file and remote code."""
    source = smollm2_dir(cache_dir)
    for item in sorted(source.iterdir()):
        if not item.is_file() or item.is_symlink():
            continue
        try:
            os.link(item, out / item.name)
        except OSError:
            shutil.copyfile(item, out / item.name)
    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_hostile.HostileForCausalLM"}
    config_path.unlink()  # it may be a hardlink to the real model's config: never edit through it
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    (out / "modeling_hostile.py").write_text(HOSTILE_CODE)
    (out / "pytorch_model.bin").write_bytes(pickle.dumps({"model": _Hostile()}, protocol=2))


def hostile_dir(cache_dir: Path) -> Path:
    """The hostile demo model (built once into the bundled cache)."""
    return ensure_built(HOSTILE_NAME, _build_hostile, cache_dir)


def _model_plan(settings, with_vlm: bool = True) -> list[tuple[str, str, Path, str]]:  # type: ignore[no-untyped-def]
    """(role, hotkey, folder, repo) for every demo miner that commits a model, in commit order; without the VLM
    miners when `with_vlm` is false (their model is not trained yet: nothing here starts the training)."""
    cache = Path(settings.cache_dir)
    demo = settings.demo
    text = [
        ("text", demo.text_hotkey, smollm2_dir(cache), TEXT_REPO),
        ("hostile", demo.hostile_hotkey, hostile_dir(cache), HOSTILE_REPO),
    ]
    if not with_vlm:
        return text
    good = vlm_dir(cache)
    return [
        ("good", demo.good_hotkey, good, GOOD_REPO),
        ("worse", demo.worse_hotkey, vlm_noised_dir(cache), WORSE_REPO),
        *text,
        ("copy", demo.copy_hotkey, good, COPY_REPO),
    ]


def seed(  # type: ignore[no-untyped-def]
    settings, chain: LocalChain | None = None, *, only_ready: bool = False
) -> list[DemoCommitment]:
    """Publish the demo models into the mirror and commit them on the local chain; returns one row per miner.

    `only_ready`: commit only the miners whose model needs no training now (`make harness-up` on a fresh machine:
    the text-only and hostile miners take part in the first round while the VLM trains; a second, full `seed`
    commits the VLM miners when it is done). With the VLM already trained, it is the same as a full seed."""
    if chain is None:
        if settings.chain.backend != "local":
            raise HarnessError("`harness demo seed` commits on the local chain only (chain.backend is not local)")
        chain = open_local_chain(settings.chain, Path(settings.cache_dir))
    _check_hotkeys(settings)
    shared = _shared_cache(settings)
    if shared is not None:
        _share(shared, Path(settings.cache_dir))  # built once per machine, not once per data dir
    try:
        latest = {r.hotkey: r for r in chain.commitments()}
        rows: dict[str, DemoCommitment] = {}
        with_vlm = not only_ready or vlm_ready(Path(settings.cache_dir))
        plan = _model_plan(settings, with_vlm)
        if shared is not None:
            _share(Path(settings.cache_dir), shared)
        for role, hotkey, folder, repo in plan:
            after = rows["good"].block if role == "copy" else None
            rows[role] = _publish_and_commit(settings, chain, latest, role, hotkey, folder, repo, after)
        uid, block, committed = _ensure_commitment(chain, latest, settings.demo.junk_hotkey, JUNK_RAW, None)
        rows["junk"] = DemoCommitment("junk", settings.demo.junk_hotkey, uid, block, JUNK_RAW, committed)
    except (ChainError, policies.CheckError) as exc:
        raise HarnessError(f"demo seed: {exc}") from None
    return [rows[role] for role in ROLES if role in rows]


def improve(settings, chain: LocalChain | None = None) -> DemoCommitment:  # type: ignore[no-untyped-def]
    """Publish the improved demo VLM and commit it under `demo.better_hotkey`, at a block after every other
    demo miner's latest commitment; idempotent like `seed`.

    Why later than all of them: the story is an honest improver arriving after the field (docs/scoring.md), which
    earns only by beating each earlier model, the VLM it was trained from included, by the margin. Run before
    `seed`, there is no VLM to improve on, so it refuses instead of committing the improver first."""
    if chain is None:
        if settings.chain.backend != "local":
            raise HarnessError("`harness demo improve` commits on the local chain only (chain.backend is not local)")
        chain = open_local_chain(settings.chain, Path(settings.cache_dir))
    _check_hotkeys(settings)
    demo = settings.demo
    try:
        latest = {r.hotkey: r for r in chain.commitments()}
        if demo.good_hotkey not in latest:
            raise HarnessError(
                f"demo improve: {demo.good_hotkey} has no commitment on this chain; run `harness demo seed` first"
            )
        others = [demo.good_hotkey, demo.worse_hotkey, demo.text_hotkey, demo.copy_hotkey, demo.hostile_hotkey]
        after = max(latest[h].block for h in others if h in latest)
        shared = _shared_cache(settings)
        if shared is not None:
            _share(shared, Path(settings.cache_dir))
        folder = vlm_improved_dir(Path(settings.cache_dir))
        if shared is not None:
            _share(Path(settings.cache_dir), shared)
        return _publish_and_commit(settings, chain, latest, "better", demo.better_hotkey, folder, BETTER_REPO, after)
    except (ChainError, policies.CheckError) as exc:
        raise HarnessError(f"demo improve: {exc}") from None


def _check_hotkeys(settings) -> None:  # type: ignore[no-untyped-def]
    # every `*_hotkey` setting, so a role added to DemoConfig is checked too
    hotkeys = [value for key, value in settings.demo.model_dump().items() if key.endswith("_hotkey")]
    if len(set(hotkeys)) != len(hotkeys):
        raise HarnessError("the demo hotkeys must all differ")


def _shared_cache(settings) -> Path | None:  # type: ignore[no-untyped-def]
    return Path(settings.demo.shared_cache_dir).expanduser() if settings.demo.shared_cache_dir else None


def _publish_and_commit(  # type: ignore[no-untyped-def]
    settings, chain: LocalChain, latest: dict, role: str, hotkey: str, folder: Path, repo: str, after: int | None
) -> DemoCommitment:
    """Publish `folder` into the mirror as `repo` and make its salted commitment `hotkey`'s latest (after block
    `after`, when given)."""
    published: Published = publish(folder, repo, settings.paths.mirror, link=True)
    manifest = policies.build_local_manifest(published.path, settings.policy)
    files = tuple(policies.download_files(manifest, settings.policy))
    digest = salted_hash({f: published.digests[f] for f in files}, hotkey)
    raw = format_commitment(repo, published.sha, digest, settings.demo.competition)
    uid, block, committed = _ensure_commitment(chain, latest, hotkey, raw, after)
    return DemoCommitment(role, hotkey, uid, block, raw, committed, published.ref, digest, files)


def _share(source: Path, target: Path) -> None:
    """Sharing only saves time: a cache it cannot read or write is logged and the seed goes on."""
    try:
        names = share_built(source, target)
    except OSError as exc:
        log.warning("demo.share_skipped", source=str(source), target=str(target), error=str(exc))
        return
    if names:
        log.info("demo.shared_bundled", source=str(source), target=str(target), models=names)


def _ensure_commitment(
    chain: LocalChain, latest: dict, hotkey: str, raw: str, after: int | None
) -> tuple[int, int, bool]:  # type: ignore[type-arg]
    """Commit `raw` unless it is already the hotkey's latest (at a block after `after`, when given)."""
    uid = chain.register(hotkey)
    record = latest.get(hotkey)
    if record is not None and record.raw == raw and (after is None or record.block > after):
        return uid, record.block, False
    if after is not None:
        now = chain.current_block()
        if now <= after:
            chain.advance(after + 1 - now)
    return uid, chain.commit(hotkey, raw), True


__all__ = [
    "BETTER_REPO",
    "COPY_REPO",
    "GOOD_REPO",
    "HOSTILE_REPO",
    "JUNK_RAW",
    "TEXT_REPO",
    "WORSE_REPO",
    "DemoCommitment",
    "hostile_dir",
    "improve",
    "seed",
]


def open_next_epoch(chain: LocalChain) -> int:
    """Move the local chain to the start of the next epoch when the current one opened before the latest
    commitment: a round counts only commitments in the chain state at its epoch's seed block, so without this the
    stack's first round (tempo > 1) would see none of the demo miners. Returns the block the chain is at."""
    block, tempo = chain.current_block(), chain.tempo()
    latest = max((record.block for record in chain.commitments()), default=-1)
    start = block - block % tempo
    if start >= latest or tempo == 1:
        return block
    return chain.advance(start + tempo - block)
