"""Task settings (`tasks` section) and the per-competition mapping (`competitions`).

Each family reads its own fields here (its count is `tasks.<family.count_setting>`); the field names and their
order are the settings' public form (env variables, docs/configuration.md), so they stay one flat section."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from harness.tasks.families import family_names, needs_vision

TOOLCALL_CATEGORIES = ("simple", "multiple", "parallel", "parallel_multiple", "irrelevance")
BFCL_PYTHON_CATEGORIES = (
    "simple_python",
    "multiple",
    "parallel",
    "parallel_multiple",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
)
# Irrelevance stays near a twentieth of the mix: a script that refuses whenever it cannot parse the request earns
# every irrelevance point, so that share is the floor of what any such strategy scores.
DEFAULT_BFCL_CATEGORIES = {
    "simple_python": 0.17,
    "multiple": 0.16,
    "parallel": 0.1,
    "parallel_multiple": 0.1,
    "live_simple": 0.13,
    "live_multiple": 0.17,
    "live_parallel": 0.05,
    "live_parallel_multiple": 0.06,
    "irrelevance": 0.03,
    "live_irrelevance": 0.03,
}


class TasksConfig(BaseModel):
    """How task sets are generated; every field here changes the task set, so it is recorded in it."""

    toolcall_n: int = Field(default=100, ge=1, description="Tool-call tasks per round.")
    caption_n: int = Field(default=40, ge=1, description="Caption tasks per round.")
    toolcall_categories: dict[str, float] = Field(
        default_factory=lambda: {
            "simple": 0.2,
            "multiple": 0.25,
            "parallel": 0.2,
            "parallel_multiple": 0.3,
            "irrelevance": 0.05,
        },
        description="Relative weights of generated tool-call categories.",
    )
    bfcl_fraction: float = Field(
        default=0.75,
        ge=0.0,
        le=1.0,
        description="Share of tool-call tasks drawn from BFCL v4 data, each perturbed per round (renamed functions "
        "and parameters, shuffled and distractor functions, re-sampled values) so a memorised key fails.",
    )
    bfcl_data_dir: Path | None = Field(default=None, description="BFCL data folder; unset: the installed bfcl_eval.")
    bfcl_categories: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_BFCL_CATEGORIES),
        description="BFCL files sampled from (`BFCL_v4_<name>.json`) and their relative weights.",
    )
    private_pool: Path | None = Field(
        default=None,
        description="Operator's private tool-call pool: BFCL-format JSONL kept off the public repo (docs/tasks.md).",
    )
    private_pool_fraction: float = Field(
        default=0.2, ge=0.0, le=1.0, description="Share of tool-call tasks from the private pool, when one is set."
    )
    # -- the task feed (docs/feed.md): held-out tasks a curator time-locks to each epoch ---------------------------
    feed_url: str | None = Field(
        default=None,
        description="Task feed: an http(s) base URL or a local folder holding `epoch-<seed block>.json` batches; "
        "unset: no feed.",
    )
    feed_curator: str | None = Field(
        default=None, description="Task feed: the curator's hotkey (ss58); a batch signed by anyone else is refused."
    )
    feed_fraction: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="Share of tool-call tasks taken from the epoch's feed batch (the rest generated locally as "
        "without a feed); a model trained on the public sources can reach about the rest (docs/feed.md).",
    )
    feed_perturb: bool = Field(
        default=True,
        description="Perturb each feed task per round like a BFCL entry (renamed functions and parameters, "
        "re-sampled values, reworded docs, distractors) instead of using it as written; it lowers what model-free "
        "extraction earns on feed tasks (docs/tasks.md).",
    )
    feed_max_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Task feed: largest batch read (bytes); a larger one is refused."
    )
    feed_beacon: Literal["auto", "local", "drand-http", "chain"] = Field(
        default="auto",
        description="Who releases a batch's drand round signature: `local` (the embedded chain's known round, "
        "released at the seed block), `drand-http`, `chain` (the Drand pallet); `auto`: local on the local chain, "
        "else drand-http.",
    )
    feed_drand_url: str = Field(default="https://api.drand.sh", description="Task feed: drand HTTP API base URL.")
    feed_drand_chain_hash: str = Field(
        default="52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971",
        description="Task feed: drand chain hash (quicknet).",
    )
    feed_timeout_s: float = Field(default=30.0, gt=0, description="Task feed: deadline of one batch or beacon read.")
    caption_prompt: str = Field(
        default="Describe this image in one short sentence.", description="User text sent with each image."
    )
    caption_jsonl: Path | None = Field(default=None, description="Image-caption JSONL dataset (see README).")
    caption_jsonl_fraction: float = Field(default=0.0, ge=0.0, le=1.0, description="Share of caption tasks from it.")
    image_size: int = Field(default=224, ge=64, le=1024, description="Side of procedural caption images (px).")
    max_image_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Largest dataset image (file bytes); larger lines are refused."
    )
    max_image_pixels: int = Field(
        default=4096 * 4096, ge=64 * 64, description="Largest dataset image (width x height); larger lines are refused."
    )

    @field_validator("toolcall_categories")
    @classmethod
    def _known_categories(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(TOOLCALL_CATEGORIES))
        if unknown:
            raise ValueError(f"unknown tool-call categories {unknown}; known: {list(TOOLCALL_CATEGORIES)}")
        if not any(w > 0 for w in value.values()) or any(w < 0 for w in value.values()):
            raise ValueError("category weights must be >= 0 with at least one > 0")
        return value

    @field_validator("bfcl_categories")
    @classmethod
    def _bfcl_weights(cls, value: dict[str, float]) -> dict[str, float]:
        if any(w < 0 for w in value.values()):
            raise ValueError("BFCL category weights must be >= 0")
        return value

    @model_validator(mode="after")
    def _shares_fit(self) -> TasksConfig:
        if self.private_pool is not None and self.bfcl_fraction + self.private_pool_fraction > 1.0:
            raise ValueError("bfcl_fraction + private_pool_fraction must be at most 1")
        if self.feed_url and not self.feed_curator:
            raise ValueError("feed_url needs feed_curator: the hotkey whose signed batches are accepted")
        return self


class CompetitionConfig(BaseModel):
    """What one competition evaluates: family weights. (Its engine's tool-call parser is a sandbox setting:
    `sandbox.sglang.tool_call_parsers`, keyed by the same competition names.)"""

    families: dict[str, float] = Field(default_factory=lambda: {"toolcall": 1.0})

    @field_validator("families")
    @classmethod
    def _known_families(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(family_names()))
        if unknown:
            raise ValueError(f"unknown task families {unknown}")
        if not value or any(w < 0 for w in value.values()) or not any(w > 0 for w in value.values()):
            raise ValueError("family weights must be >= 0 with at least one > 0")
        return value

    @property
    def needs_vision(self) -> bool:
        return needs_vision(self.families)


def default_competitions() -> dict[str, CompetitionConfig]:
    return {
        "toolcall": CompetitionConfig(families={"toolcall": 1.0}),
        "any2any": CompetitionConfig(families={"toolcall": 0.5, "caption": 0.5}),
    }
