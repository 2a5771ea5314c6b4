"""`LocalChain`: an embedded chain in one SQLite file, the default backend for demos, CI and selftests.

It behaves like the parts of a subnet the harness uses: blocks advance with wall time (and on demand), block
hashes are deterministic, hotkeys register as neurons with increasing uids, each hotkey's latest commitment
counts (stored with the block it was made at), and weights set are kept and readable. Several processes (the
supervisor, `harness chain commit` from demo miners) share the file safely: WAL mode, a busy timeout, and
every write in one `BEGIN IMMEDIATE` transaction.

With `commit_reveal_blocks` > 0 it behaves like a commit-reveal subnet: `set_weights` stores a commit (with the
drand round its reveal time falls in) that takes effect that many blocks later; until then `last_weights()` still
shows the previous weights and `reveal_status()` says the commit is pending.

For tests of the caller's resilience, faults can be injected (`inject_fault("set_weights", "timeout", 2)`):
they are stored in the database, so a test process can arm them for a supervisor running elsewhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from chain.base import (
    ChainError,
    ChainTimeout,
    CommitmentRecord,
    LastWeights,
    Neuron,
    RateLimited,
    RevealStatus,
    ValidatorActivity,
    WeightsReceipt,
    check_weights,
    drand_round_at,
)
from chain.commitment import MAX_BYTES
from chain.retry import RetryPolicy, call_with_retry

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS neurons (
    uid INTEGER PRIMARY KEY,
    hotkey TEXT NOT NULL UNIQUE,
    registered_block INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS commitments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hotkey TEXT NOT NULL REFERENCES neurons(hotkey),
    raw TEXT NOT NULL,
    block INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS commitments_by_hotkey ON commitments(hotkey, id);
CREATE TABLE IF NOT EXISTS weights (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hotkey TEXT NOT NULL,
    block INTEGER NOT NULL,
    uids TEXT NOT NULL,
    weights TEXT NOT NULL,
    version_key INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS faults (op TEXT PRIMARY KEY, kind TEXT NOT NULL, remaining INTEGER NOT NULL);
"""

FAULT_OPS = ("set_weights", "commitments", "neurons", "current_block")
DEFAULT_BLOCK_PERIOD_S = 12.0
"""Seconds per block of a local chain whose creator set none (a subtensor chain's block time)."""
# Columns added after the first release: (table, column, declaration), added to older files on open.
_ADDED_COLUMNS = (("weights", "reveal_block", "INTEGER"), ("weights", "reveal_round", "INTEGER"))


class LocalChain:
    """The embedded chain. `block_period_s=0` freezes time: blocks then advance only with `advance()`."""

    def __init__(
        self,
        path: Path | str,
        *,
        chain_id: str = "harness-local",
        block_period_s: float | None = 12.0,
        validator_hotkey: str = "validator",
        weights_rate_limit: int = 0,
        tempo: int = 1,
        version_key: int = 0,
        retry: RetryPolicy | None = None,
        busy_timeout_s: float = 30.0,
        commit_reveal_blocks: int = 0,
        activity_cutoff: int = 5000,
    ) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.block_period_s = DEFAULT_BLOCK_PERIOD_S if block_period_s is None else block_period_s
        self.validator_hotkey = validator_hotkey
        self.weights_rate_limit = weights_rate_limit
        if tempo < 1:
            raise ChainError(f"tempo must be at least 1 block, not {tempo}")
        self._tempo = tempo
        self.version_key = version_key
        self.commit_reveal_blocks = commit_reveal_blocks
        self.activity_cutoff = activity_cutoff
        self.retry = retry or RetryPolicy(attempts=1)
        self._busy_timeout_s = busy_timeout_s
        self._init(chain_id)
        if block_period_s is None:  # not configured: the period the chain was created with, as its other users see it
            self.block_period_s = self._created_block_period()

    # -- plumbing ---------------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_s * 1000)}")
        return db

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        db = self._connect()
        try:
            db.execute("BEGIN")
            yield db
            db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise ChainError(f"local chain database {self.path}: {exc}") from exc
        finally:
            db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise ChainError(f"local chain database {self.path}: {exc}") from exc
        finally:
            db.close()

    def _init(self, chain_id: str) -> None:
        db = self._connect()
        try:
            db.executescript(_SCHEMA)
            for table, column, declaration in _ADDED_COLUMNS:
                if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
                    with contextlib.suppress(sqlite3.OperationalError):  # another process added it first
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        finally:
            db.close()
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO meta VALUES ('chain_id', ?)", (chain_id,))
            created = db.execute("INSERT OR IGNORE INTO meta VALUES ('genesis_time', ?)", (repr(time.time()),))
            db.execute("INSERT OR IGNORE INTO meta VALUES ('block_offset', '0')")
            if created.rowcount == 1:  # only its creator says what a block is (an older chain keeps the default)
                db.execute("INSERT INTO meta VALUES ('block_period_s', ?)", (repr(self.block_period_s),))
            self.chain_id = db.execute("SELECT value FROM meta WHERE key='chain_id'").fetchone()[0]

    def _created_block_period(self) -> float:
        """The block period of the process that created this chain (a chain created before it was recorded: the
        default). A reader with another period would count other blocks, and see weights as not yet set."""
        with self._read() as db:
            row = db.execute("SELECT value FROM meta WHERE key='block_period_s'").fetchone()
        return float(row[0]) if row is not None else DEFAULT_BLOCK_PERIOD_S

    def _block(self, db: sqlite3.Connection) -> int:
        meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('genesis_time', 'block_offset')"))
        elapsed = (
            0 if self.block_period_s <= 0 else int((time.time() - float(meta["genesis_time"])) // self.block_period_s)
        )
        return max(0, elapsed) + int(meta["block_offset"])

    def _take_fault(self, op: str) -> None:
        with self._read() as db:  # the common case, no fault armed, takes no write lock
            if db.execute("SELECT 1 FROM faults WHERE op=?", (op,)).fetchone() is None:
                return
        with self._write() as db:
            row = db.execute("SELECT kind, remaining FROM faults WHERE op=?", (op,)).fetchone()
            if row is None:
                return
            kind, remaining = row
            if remaining <= 1:
                db.execute("DELETE FROM faults WHERE op=?", (op,))
            else:
                db.execute("UPDATE faults SET remaining=remaining-1 WHERE op=?", (op,))
        if kind == "timeout":
            raise ChainTimeout(f"local chain: injected timeout on {op}")
        raise ChainError(f"local chain: injected error on {op}")

    # -- test and demo controls -------------------------------------------------------------------------------

    def advance(self, blocks: int = 1) -> int:
        """Move the chain forward by `blocks` (on top of wall-time blocks); returns the new block."""
        if blocks < 0:
            raise ChainError("a chain cannot go back in time")
        with self._write() as db:
            db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key='block_offset'", (blocks,))
            return self._block(db)

    def inject_fault(self, op: str, kind: str = "timeout", count: int = 1) -> None:
        """Make the next `count` calls of `op` fail with a timeout (`kind="timeout"`) or a chain error."""
        if op not in FAULT_OPS or kind not in ("timeout", "error") or count < 0:
            raise ChainError(f"cannot inject {kind!r} x{count} into {op!r}; ops: {', '.join(FAULT_OPS)}")
        with self._write() as db:
            if count == 0:
                db.execute("DELETE FROM faults WHERE op=?", (op,))
            else:
                db.execute("INSERT OR REPLACE INTO faults VALUES (?, ?, ?)", (op, kind, count))

    def register(self, hotkey: str) -> int:
        """Register a hotkey as a neuron (idempotent); returns its uid."""
        if not hotkey or len(hotkey) > 64 or not hotkey.isprintable() or hotkey.strip() != hotkey:
            raise ChainError(f"hotkey {hotkey!r} must be 1-64 printable characters without surrounding space")
        with self._write() as db:
            row = db.execute("SELECT uid FROM neurons WHERE hotkey=?", (hotkey,)).fetchone()
            if row:
                return int(row[0])
            uid = db.execute("SELECT COALESCE(MAX(uid) + 1, 0) FROM neurons").fetchone()[0]
            db.execute("INSERT INTO neurons VALUES (?, ?, ?)", (uid, hotkey, self._block(db)))
            return int(uid)

    def commit(self, hotkey: str, raw: str) -> int:
        """Store `raw` as the hotkey's commitment at the current block (any text, like the chain); returns it."""
        size = len(raw.encode("utf-8"))
        if size > MAX_BYTES:
            raise ChainError(f"commitment is {size} bytes; the chain allows at most {MAX_BYTES}")
        with self._write() as db:
            if db.execute("SELECT 1 FROM neurons WHERE hotkey=?", (hotkey,)).fetchone() is None:
                raise ChainError(f"hotkey {hotkey!r} is not registered on the local chain")
            block = self._block(db)
            db.execute("INSERT INTO commitments (hotkey, raw, block) VALUES (?, ?, ?)", (hotkey, raw, block))
            return block

    # -- the Chain interface ----------------------------------------------------------------------------------

    def current_block(self) -> int:
        return call_with_retry("current_block", self._current_block_once, self.retry)

    def _current_block_once(self) -> int:
        self._take_fault("current_block")
        with self._read() as db:
            return self._block(db)

    def block_hash(self, block: int) -> str:
        if block < 0:
            raise ChainError(f"block {block} does not exist")
        if block > self.current_block():
            raise ChainError(f"block {block} is in the future")
        return "0x" + hashlib.sha256(f"{self.chain_id}:{block}".encode()).hexdigest()

    def tempo(self) -> int:
        return self._tempo

    def neurons(self) -> list[Neuron]:
        return call_with_retry("neurons", self._neurons_once, self.retry)

    def _neurons_once(self) -> list[Neuron]:
        self._take_fault("neurons")
        with self._read() as db:
            return [Neuron(int(uid), hk) for uid, hk in db.execute("SELECT uid, hotkey FROM neurons ORDER BY uid")]

    def commitments(self, at_block: int | None = None) -> list[CommitmentRecord]:
        """The latest commitment of every registered hotkey as of `at_block` (commitments made at it included;
        None: the latest), malformed ones included with their parse error."""
        return call_with_retry("commitments", lambda: self._commitments_once(at_block), self.retry)

    def _commitments_once(self, at_block: int | None) -> list[CommitmentRecord]:
        self._take_fault("commitments")
        limit = (1 << 62) if at_block is None else at_block
        with self._read() as db:
            rows = db.execute(
                """SELECT n.uid, c.hotkey, c.block, c.raw FROM commitments c JOIN neurons n ON n.hotkey = c.hotkey
                   WHERE c.id = (SELECT MAX(id) FROM commitments WHERE hotkey = c.hotkey AND block <= ?)
                   ORDER BY n.uid""",
                (limit,),
            ).fetchall()
        return [CommitmentRecord.from_raw(int(uid), hk, int(block), raw) for uid, hk, block, raw in rows]

    def set_weights(self, uids: list[int], weights: list[float]) -> WeightsReceipt:
        check_weights(uids, weights)
        return call_with_retry("set_weights", lambda: self._set_weights_once(uids, weights), self.retry)

    def _set_weights_once(self, uids: list[int], weights: list[float]) -> WeightsReceipt:
        self._take_fault("set_weights")
        with self._write() as db:
            known = {int(u) for (u,) in db.execute("SELECT uid FROM neurons")}
            unknown = sorted(set(uids) - known)
            if unknown:
                raise ChainError(f"uids {unknown} are not registered on the local chain")
            block = self._block(db)
            last = db.execute(
                "SELECT block FROM weights WHERE hotkey=? ORDER BY id DESC LIMIT 1", (self.validator_hotkey,)
            ).fetchone()
            if self.weights_rate_limit and last is not None and block - int(last[0]) < self.weights_rate_limit:
                remaining = self.weights_rate_limit - (block - int(last[0]))
                raise RateLimited(
                    f"weights were set {block - int(last[0])} blocks ago; the rate limit is "
                    f"{self.weights_rate_limit} blocks, retry in {remaining}",
                    remaining,
                )
            total = float(sum(weights))
            normalised = [w / total for w in weights]
            reveal_block = reveal_round = None
            if self.commit_reveal_blocks > 0:
                reveal_block = block + self.commit_reveal_blocks
                seconds = self.commit_reveal_blocks * (self.block_period_s or 12.0)
                reveal_round = drand_round_at(time.time() + seconds)
            cursor = db.execute(
                """INSERT INTO weights (hotkey, block, uids, weights, version_key, reveal_block, reveal_round)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (
                    self.validator_hotkey,
                    block,
                    json.dumps(list(uids)),
                    json.dumps(normalised),
                    self.version_key,
                    reveal_block,
                    reveal_round,
                ),
            )
            return WeightsReceipt(
                block=block,
                uids=list(uids),
                weights=normalised,
                version_key=self.version_key,
                extrinsic=f"{block}-{cursor.lastrowid}",
                message="committed on the local chain" if reveal_round else "stored on the local chain",
                reveal_round=reveal_round,
            )

    def last_weights(self) -> LastWeights | None:
        """The weights in force: the latest set in the clear or revealed commit (its block: the reveal's)."""
        with self._read() as db:
            row = db.execute(
                """SELECT COALESCE(reveal_block, block), uids, weights FROM weights
                   WHERE hotkey=? AND COALESCE(reveal_block, block) <= ? ORDER BY id DESC LIMIT 1""",
                (self.validator_hotkey, self._block(db)),
            ).fetchone()
        if row is None:
            return None
        return LastWeights(int(row[0]), json.loads(row[1]), json.loads(row[2]))

    def reveal_status(self, commit_block: int, reveal_round: int | None) -> RevealStatus:
        with self._read() as db:
            now = self._block(db)
            row = db.execute(
                "SELECT reveal_block FROM weights WHERE hotkey=? AND block=? ORDER BY id DESC LIMIT 1",
                (self.validator_hotkey, commit_block),
            ).fetchone()
        if row is None:
            return RevealStatus("dropped", commit_block, reveal_round, now, detail="no such weights on the chain")
        if reveal_round is None or row[0] is None:
            return RevealStatus("set", commit_block, None, now, commit_block)
        if int(row[0]) > now:
            return RevealStatus("pending", commit_block, reveal_round, now)
        return RevealStatus("revealed", commit_block, reveal_round, now, int(row[0]))

    def pending_commits(self) -> list[tuple[int, int]]:
        """Our commits whose reveal block is still ahead (the local chain reveals at a block, like drand's round)."""
        with self._read() as db:
            rows = db.execute(
                """SELECT block, reveal_round FROM weights WHERE hotkey=? AND reveal_round IS NOT NULL
                   AND reveal_block > ? ORDER BY block, id""",
                (self.validator_hotkey, self._block(db)),
            ).fetchall()
        return [(int(block), int(reveal)) for block, reveal in rows]

    def validator_activity(self) -> ValidatorActivity:
        """`LastUpdate` as the chain keeps it: written by a set, a commit and a reveal alike."""
        with self._read() as db:
            now = self._block(db)
            row = db.execute(
                """SELECT MAX(CASE WHEN reveal_block IS NOT NULL AND reveal_block <= ? THEN reveal_block
                                   ELSE block END) FROM weights WHERE hotkey=?""",
                (now, self.validator_hotkey),
            ).fetchone()
        return ValidatorActivity(now, int(row[0] or 0), self.activity_cutoff)

    def weights_history(self) -> list[WeightsReceipt]:
        """Every weights call stored, oldest first (for reports and tests)."""
        with self._read() as db:
            rows = db.execute("SELECT id, block, uids, weights, version_key FROM weights ORDER BY id").fetchall()
        return [WeightsReceipt(int(b), json.loads(u), json.loads(w), int(v), f"{b}-{i}") for i, b, u, w, v in rows]

    def close(self) -> None:
        """Nothing to release: every call opens and closes its own connection."""
