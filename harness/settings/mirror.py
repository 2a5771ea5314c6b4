"""Settings of the local Hub mirror (`mirror` section): where `harness hub serve/publish` keep and serve repos."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class MirrorConfig(BaseModel):
    root: Path | None = Field(
        default=None, description="Mirror directory (ORG/NAME/SHA/files); unset means <cache_dir>/mirror."
    )
    host: str = Field(default="127.0.0.1", description="Address `harness hub serve` binds.")
    port: int = Field(default=8765, ge=0, le=65535, description="Port `harness hub serve` listens on.")
