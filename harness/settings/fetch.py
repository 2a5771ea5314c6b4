"""Settings of the model download cache (`fetch` section)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class FetchConfig(BaseModel):
    models_dir: Path | None = Field(default=None, description="Downloaded models; unset means CACHE_DIR/models.")
    budget_bytes: int = Field(
        default=200 * 1024**3, gt=0, description="Disk budget of the model cache; least recently used go first."
    )
    model_deadline_s: float = Field(
        default=3600.0, gt=0, description="Total deadline of one model's download, however slowly bytes arrive."
    )
    min_free_bytes: int = Field(
        default=1024**3, ge=0, description="Free disk space the cache's filesystem keeps after a download."
    )
