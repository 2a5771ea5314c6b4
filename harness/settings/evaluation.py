"""Evaluation-run settings, nested into the harness settings as `evaluation`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class EvaluationConfig(BaseModel):
    concurrency: int = Field(default=8, ge=1, description="Requests in flight at once (lets the engine batch).")
    request_timeout_s: float = Field(default=120.0, gt=0, description="Per-task deadline, seconds.")
    max_tokens: int = Field(default=256, ge=1, description="Token cap of each answer.")
    temperature: float = Field(default=0.0, ge=0, description="Sampling temperature (0: greedy).")
    seed: int = Field(default=0, description="Sampling seed sent with each request.")
    template_timeouts_max: int = Field(
        default=3,
        ge=1,
        description="Chat-template renders the engine cancelled at its deadline (sandbox.render_timeout_s) before "
        "the model's evaluation ends as evaluate/template-timeout.",
    )
    worst_tasks_shown: int = Field(default=5, ge=0, description="Worst tasks listed per family in the summary.")
