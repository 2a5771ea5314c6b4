"""Policy settings: what a subnet accepts. Nested into the harness settings as `policy`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PolicyConfig(BaseModel):
    """Limits and allowlists; each rule reads only its own fields."""

    allowed_licenses: list[str] = Field(default_factory=lambda: ["apache-2.0"])
    max_parameters: float = Field(default=10e9, description="Largest parameter count accepted.")
    max_total_bytes: int = Field(default=40 * 1024**3, description="Largest repo size in bytes.")
