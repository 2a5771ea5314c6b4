"""The order in which a budgeted round evaluates its commitments: one list, the same for every validator that
has the same chain state and the same history, of which each validator evaluates the prefix its capacity allows.

Why this order (docs/rounds.md, "Budgeted rounds"):
1. **Never visited** commitments first, in commit order (block, then the lower uid): a new model waits only for
   the new models committed before it, whatever the validator's capacity. A **quick re-commit** (a new
   commitment of a hotkey whose previous commitment had its first visit within the last
   `recommit_cooldown_epochs` epochs) is the exception: it waits its turn among the visited models, with that
   epoch as its last visit. Without that, a hotkey that re-commits a fresh model every epoch would be "never
   visited" every epoch and jump the queue each time: a few such hotkeys take every slot of a small validator,
   and the leaders and every other model are never looked at again (tests/unit/harness/round/test_schedule.py
   measures that flood). With it, each hotkey jumps the queue at most once per window, and a miner who
   re-commits after the window (an improved model, typically weeks later) goes first as before.
2. **Leaders** next: the top `leaders` models of each competition by moving standing are re-evaluated every
   round that gets this far. Comparisons (`scoring.comparisons`) only ever compare models scored in the same
   round, on the same tasks, so a challenger takes a leader's place only in a round where the leader was
   evaluated beside it, and a leader whose place came from one lucky round is checked again in the next.
   A round whose budget the new commitments use up compares them among themselves only; their standing then
   moves by at most `scoring.ema_alpha` from the prior, and they meet the leaders once they are among them.
   (Leaders first instead would starve every new model on a validator whose budget holds only the leaders.)
3. **Stalest** last: the models whose last visit is oldest, ties broken by a hash of the epoch's seed and the
   commitment, so that no hotkey is always first among equals and every validator breaks the tie alike.

Pure functions of their arguments: the epoch's seed, the commitments (their blocks and uids) and the history of
visits and moving standings. Never of timing: how far down the list a validator gets depends on its capacity,
the list does not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Work:
    """One eligible commitment as the schedule sees it."""

    model_id: int
    hotkey: str
    block: int
    """The commitment's block."""
    uid: int
    competition: str
    last_visit: int | None
    """The latest epoch in which a round concluded its visit (evaluated, or judged without one); None: never."""
    standing: float | None
    """Its moving standing (None: it has none, never scored)."""
    hotkey_last_first_visit: int | None = None
    """The latest epoch in which a commitment of this hotkey had its first visit (None: none ever had)."""

    @property
    def commit_order(self) -> tuple[int, int, str]:
        return (self.block, self.uid, self.hotkey)


def leaders(work: Sequence[Work], per_competition: int) -> list[Work]:
    """The top `per_competition` models of each competition by moving standing (a positive one only), the
    earlier commitment first on a tie; competitions by name, each one's leaders best first."""
    by_competition: dict[str, list[Work]] = {}
    for item in work:
        if item.standing is not None and item.standing > 0:
            by_competition.setdefault(item.competition, []).append(item)
    out: list[Work] = []
    for name in sorted(by_competition):
        ranked = sorted(by_competition[name], key=lambda w: (-(w.standing or 0.0), w.commit_order))
        out.extend(ranked[:per_competition])
    return out


def tie_break(seed: str, item: Work) -> str:
    """A position among equally stale commitments that no one can choose: a hash of the epoch's seed and the
    commitment (hotkey, block), the same on every validator."""
    return hashlib.sha256(f"{seed}:{item.hotkey}:{item.block}".encode()).hexdigest()


def recommitted_within(item: Work, epoch: int | None, cooldown_epochs: int) -> bool:
    """A never-visited commitment of a hotkey whose previous commitment was first visited less than
    `cooldown_epochs` epochs before `epoch`."""
    if item.last_visit is not None or item.hotkey_last_first_visit is None or epoch is None:
        return False
    return epoch - item.hotkey_last_first_visit < cooldown_epochs


def order(
    work: Sequence[Work],
    seed: str,
    *,
    leaders_per_competition: int,
    epoch: int | None = None,
    recommit_cooldown_epochs: int = 0,
) -> list[Work]:
    """The round's order of work: never-visited commitments in commit order (re-commits within the cooldown
    excepted), then the leaders, then the rest, stalest first. Every commitment appears once; a validator with
    capacity for n models evaluates the first n."""
    if len({w.model_id for w in work}) != len(work):
        raise ValueError("a model appears twice in the schedule")
    held = {w.model_id for w in work if recommitted_within(w, epoch, recommit_cooldown_epochs)}
    new = sorted((w for w in work if w.last_visit is None and w.model_id not in held), key=lambda w: w.commit_order)
    top = leaders([w for w in work if w.last_visit is not None], leaders_per_competition)
    taken = {w.model_id for w in top}

    def last_seen(item: Work) -> int:
        seen = item.hotkey_last_first_visit if item.model_id in held else item.last_visit
        assert seen is not None
        return seen

    stale = sorted(
        (w for w in work if (w.last_visit is not None or w.model_id in held) and w.model_id not in taken),
        key=lambda w: (last_seen(w), tie_break(seed, w), w.model_id),
    )
    return new + top + stale
