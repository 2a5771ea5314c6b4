"""Every folder and file the harness keeps under its cache directory, derived from the settings in one place.

Why one place: the state database, the model cache, the mirror and the slot locks are shared by processes that
each load settings on their own (the service, `harness status`, a Ray worker, the demo seed); if each worked
its path out itself, one changed default would split them silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.settings.root import Settings


def bundled_dir(cache_dir: Path) -> Path:
    """Models the harness builds itself (SmolLM2, the demo VLM): per machine, shared by every clone's data dir."""
    return Path(cache_dir) / "bundled"


@dataclass(frozen=True)
class Paths:
    cache: Path
    state_db: Path  # the validator's SQLite state
    models: Path  # fetched model revisions, one folder each
    mirror: Path  # the local Hub mirror (`harness hub`, the demo)
    slots: Path  # a worker host's slot locks (Ray executor)
    selftest: Path  # selftest staging folders
    bundled: Path

    @classmethod
    def of(cls, settings: Settings) -> Paths:
        cache = Path(settings.cache_dir).expanduser()
        return cls(
            cache=cache,
            state_db=Path(settings.state_db or cache / "state.sqlite").expanduser(),
            models=Path(settings.fetch.models_dir or cache / "models").expanduser(),
            mirror=Path(settings.mirror.root or cache / "mirror").expanduser(),
            slots=cache / "slots",
            selftest=cache / "selftest",
            bundled=bundled_dir(cache),
        )
