"""The state database schema, as ordered migrations.

Migration N brings the database from `PRAGMA user_version` N-1 to N; each runs in one transaction together
with the version bump, so a crash mid-migration leaves the previous version intact. Append, never edit.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the first schema.
    """
    CREATE TABLE rounds (
        id INTEGER PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
        block INTEGER,
        block_hash TEXT,
        started_at REAL NOT NULL,
        finished_at REAL,
        note TEXT
    );
    CREATE UNIQUE INDEX one_running_round ON rounds(status) WHERE status = 'running';

    CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        hotkey TEXT NOT NULL,
        uid INTEGER,
        repo TEXT NOT NULL,
        revision TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        competition TEXT,
        commit_block INTEGER NOT NULL,
        first_seen_round INTEGER REFERENCES rounds(id),
        first_seen_at REAL NOT NULL,
        UNIQUE (hotkey, repo, revision, content_hash, commit_block)
    );

    CREATE TABLE verdicts (
        round_id INTEGER NOT NULL REFERENCES rounds(id),
        model_id INTEGER NOT NULL REFERENCES models(id),
        allowed INTEGER NOT NULL CHECK (allowed IN (0, 1)),
        violations TEXT NOT NULL,
        recorded_at REAL NOT NULL,
        PRIMARY KEY (round_id, model_id)
    );

    CREATE TABLE evaluations (
        id INTEGER PRIMARY KEY,
        round_id INTEGER NOT NULL REFERENCES rounds(id),
        model_id INTEGER NOT NULL REFERENCES models(id),
        content_hash TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
        score REAL,
        details TEXT,
        started_at REAL NOT NULL,
        finished_at REAL,
        UNIQUE (round_id, content_hash)
    );

    CREATE TABLE task_results (
        evaluation_id INTEGER NOT NULL REFERENCES evaluations(id),
        task_id TEXT NOT NULL,
        score REAL NOT NULL,
        details TEXT,
        recorded_at REAL NOT NULL,
        PRIMARY KEY (evaluation_id, task_id)
    );

    CREATE TABLE weights_set (
        round_id INTEGER PRIMARY KEY REFERENCES rounds(id),
        block INTEGER,
        uids TEXT NOT NULL,
        weights TEXT NOT NULL,
        receipt TEXT,
        set_at REAL NOT NULL
    );

    CREATE TABLE failures (
        id INTEGER PRIMARY KEY,
        round_id INTEGER NOT NULL REFERENCES rounds(id),
        subject TEXT NOT NULL,
        stage TEXT NOT NULL,
        class TEXT NOT NULL,
        reason TEXT NOT NULL,
        recorded_at REAL NOT NULL,
        UNIQUE (round_id, subject, stage)
    );
    """,
    # 2: scores per model, the first-seen registry of content identities, keyed lookups.
    """
    CREATE INDEX evaluations_by_model ON evaluations(round_id, model_id);
    CREATE INDEX failures_by_round ON failures(round_id);

    CREATE TABLE model_identities (
        model_id INTEGER PRIMARY KEY REFERENCES models(id),
        identity TEXT NOT NULL
    );

    CREATE TABLE identity_owners (
        identity TEXT PRIMARY KEY,
        hotkey TEXT NOT NULL,
        uid INTEGER NOT NULL,
        block INTEGER NOT NULL,
        round_id INTEGER REFERENCES rounds(id),
        recorded_at REAL NOT NULL
    );

    CREATE TABLE moving_scores (
        round_id INTEGER NOT NULL REFERENCES rounds(id),
        hotkey TEXT NOT NULL,
        identity TEXT NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (round_id, hotkey, identity)
    );
    """,
    # 3: moving standings per model (EMA of each round's win rate, docs/scoring.md), kept beside the moving scores.
    """
    CREATE TABLE moving_standings (
        round_id INTEGER NOT NULL REFERENCES rounds(id),
        hotkey TEXT NOT NULL,
        identity TEXT NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (round_id, hotkey, identity)
    );
    """,
    # feed: what each round read from the task feed (docs/feed.md): the batch's sha256 and decrypted entries, or
    # the failure it fell back on, so a resumed round reuses exactly what it read.
    """
    CREATE TABLE round_feeds (
        round_id INTEGER PRIMARY KEY REFERENCES rounds(id),
        epoch INTEGER NOT NULL,
        batch_sha256 TEXT,
        entries TEXT,
        failure_class TEXT,
        reason TEXT,
        recorded_at REAL NOT NULL
    );
    """,
    # sketch: each fetched model's weight sketch (harness.models.sketch), for the near-copy signal.
    """
    CREATE TABLE model_sketches (
        model_id INTEGER PRIMARY KEY REFERENCES models(id),
        version INTEGER NOT NULL,
        sketch BLOB NOT NULL,
        recorded_at REAL NOT NULL
    );
    """,
    # schedule: the order of work of budgeted rounds (harness/round/schedule.py): each round's epoch and plan, and
    # the epoch in which each model's visit concluded (evaluated, or judged without one), for staleness and age.
    """
    CREATE TABLE round_schedules (
        round_id INTEGER PRIMARY KEY REFERENCES rounds(id),
        epoch INTEGER NOT NULL,
        planned INTEGER NOT NULL,
        budget_s REAL,
        recorded_at REAL NOT NULL
    );
    CREATE TABLE schedule_visits (
        round_id INTEGER NOT NULL REFERENCES rounds(id),
        model_id INTEGER NOT NULL REFERENCES models(id),
        epoch INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        recorded_at REAL NOT NULL,
        PRIMARY KEY (round_id, model_id)
    );
    CREATE INDEX schedule_visits_by_model ON schedule_visits(model_id, epoch);
    """,
    # reveals: weights under commit-reveal (docs/chain.md). A weights record keeps the drand round its commit reveals
    # at (NULL: set in the clear) and the commit's block (`block`); the chain's answer, checked later, is the
    # reveal state (`set`, `pending`, `revealed`, `dropped`), the block the reveal wrote and when it was checked.
    # `validator_activity` keeps the latest reading of our LastUpdate against the subnet's activity cutoff.
    """
    ALTER TABLE weights_set ADD COLUMN reveal_round INTEGER;
    ALTER TABLE weights_set ADD COLUMN reveal_state TEXT;
    ALTER TABLE weights_set ADD COLUMN revealed_block INTEGER;
    ALTER TABLE weights_set ADD COLUMN reveal_detail TEXT;
    ALTER TABLE weights_set ADD COLUMN reveal_checked_block INTEGER;
    ALTER TABLE weights_set ADD COLUMN reveal_checked_at REAL;

    CREATE TABLE validator_activity (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        block INTEGER NOT NULL,
        last_update INTEGER NOT NULL,
        activity_cutoff INTEGER NOT NULL,
        warning TEXT,
        checked_at REAL NOT NULL
    );
    """,
    # fingerprint: the scoring fingerprint each round ran with (harness/fingerprint.py), so two operators can compare
    # the rounds they scored, and one can see when its own stack changed.
    """
    CREATE TABLE round_fingerprints (
        round_id INTEGER PRIMARY KEY REFERENCES rounds(id),
        fingerprint TEXT NOT NULL,
        components TEXT NOT NULL,
        recorded_at REAL NOT NULL
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
