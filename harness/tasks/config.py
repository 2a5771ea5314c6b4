"""Task settings (`tasks` section) and the per-competition mapping (`competitions`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, field_validator

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


class TasksConfig(BaseModel):
    """How task sets are generated; every field here changes the task set, so it is recorded in it."""

    toolcall_n: int = Field(default=100, ge=1, description="Tool-call tasks per round.")
    caption_n: int = Field(default=40, ge=1, description="Caption tasks per round.")
    toolcall_categories: dict[str, float] = Field(
        default_factory=lambda: {
            "simple": 0.3,
            "multiple": 0.25,
            "parallel": 0.15,
            "parallel_multiple": 0.15,
            "irrelevance": 0.15,
        },
        description="Relative weights of generated tool-call categories.",
    )
    bfcl_fraction: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of tool-call tasks sampled from BFCL data instead of generated (public data can be "
        "memorised, so 0 by default).",
    )
    bfcl_data_dir: Path | None = Field(default=None, description="BFCL data folder; unset: the installed bfcl_eval.")
    bfcl_categories: list[str] = Field(
        default_factory=lambda: list(BFCL_PYTHON_CATEGORIES), description="BFCL files sampled from."
    )
    caption_prompt: str = Field(
        default="Describe this image in one short sentence.", description="User text sent with each image."
    )
    caption_jsonl: Path | None = Field(default=None, description="Image-caption JSONL dataset (see README).")
    caption_jsonl_fraction: float = Field(default=0.0, ge=0.0, le=1.0, description="Share of caption tasks from it.")
    image_size: int = Field(default=224, ge=64, le=1024, description="Side of procedural caption images (px).")

    @field_validator("toolcall_categories")
    @classmethod
    def _known_categories(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(TOOLCALL_CATEGORIES))
        if unknown:
            raise ValueError(f"unknown tool-call categories {unknown}; known: {list(TOOLCALL_CATEGORIES)}")
        if not any(w > 0 for w in value.values()) or any(w < 0 for w in value.values()):
            raise ValueError("category weights must be >= 0 with at least one > 0")
        return value


class CompetitionConfig(BaseModel):
    """What one competition evaluates: family weights. (Its engine's tool-call parser is a sandbox setting:
    `sandbox.sglang.tool_call_parsers`, keyed by the same competition names.)"""

    families: dict[str, float] = Field(default_factory=lambda: {"toolcall": 1.0})

    @field_validator("families")
    @classmethod
    def _known_families(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - {"toolcall", "caption"})
        if unknown:
            raise ValueError(f"unknown task families {unknown}")
        if not value or any(w < 0 for w in value.values()) or not any(w > 0 for w in value.values()):
            raise ValueError("family weights must be >= 0 with at least one > 0")
        return value

    @property
    def needs_vision(self) -> bool:
        return self.families.get("caption", 0) > 0


def default_competitions() -> dict[str, CompetitionConfig]:
    return {
        "toolcall": CompetitionConfig(families={"toolcall": 1.0}),
        "any2any": CompetitionConfig(families={"toolcall": 0.5, "caption": 0.5}),
    }
