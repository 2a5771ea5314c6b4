"""Scoring settings, nested into the harness settings as `scoring`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ScoringConfig(BaseModel):
    toolcall_score: Literal["strict", "partial"] = Field(
        default="strict", description="Tool-call score that drives weights: BFCL pass/fail, or partial credit."
    )
    caption_max_words: int = Field(default=60, ge=1, description="Captions longer than this are penalised.")
    caption_batch_size: int = Field(
        default=64,
        ge=1,
        description="Unused: captions are embedded one at a time so no score depends on its batch (docs/captions.md).",
    )
    ci_level: float = Field(default=0.95, gt=0, lt=1, description="Confidence level of per-family intervals.")
    ema_alpha: float = Field(default=0.3, gt=0, le=1, description="Weight of the newest round in the EMA.")
    new_model_prior: float | None = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Moving score a model (hotkey, content) starts from; unset: its first score. Keeps one lucky "
        "round from taking the lead.",
    )
    failed_evaluation_scores_zero: bool = Field(
        default=True, description="A model whose evaluation fails (crash, OOM, dead engine) scores 0 that round."
    )
    weights_fallback: Literal["burn", "uniform"] = Field(
        default="burn",
        description="Weights when no model earns any: all to `burn_uid`, or uniform over models that passed policy.",
    )
    burn_uid: int = Field(default=0, ge=0, le=65535, description="Uid that gets the weight when nobody earns any.")
    weights_method: Literal["winrate", "softmax", "proportional"] = Field(
        default="winrate",
        description="Weights from: `winrate`, a softmax over each model's moving standing (its win rate against "
        "the other models of its competition, 0 for a later model not better than an earlier one by the margin: "
        "docs/scoring.md); or the moving scores, by winner-take-most `softmax` or `proportional`.",
    )
    softmax_temperature: float = Field(default=0.05, gt=0, description="Lower gives the leader more.")
    near_copy_similarity: float = Field(
        default=0.99,
        gt=0,
        le=1,
        description="A model whose weight sketch is at least this similar to an earlier model of another hotkey is "
        "recorded as `dedupe/near-copy` (a signal shown in reports, never a score change): docs/scoring.md, "
        "section Near-copy sketch.",
    )
    copy_margin: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="A later model beats an earlier one of its competition only if its score is at least this much "
        "higher (and the sign test agrees, `copy_level`); otherwise the earlier commitment wins the comparison.",
    )
    copy_level: float = Field(
        default=0.95,
        gt=0,
        lt=1,
        description="Confidence with which the one-sided sign test over the shared tasks must reject that a later "
        "model is no better than an earlier one.",
    )
    allow_fingerprint_mismatch: bool = Field(
        default=False,
        description="Score even when the installed packages differ from the release's requirements.lock (the "
        "scoring fingerprint then differs from other validators'; `harness run` refuses to start otherwise).",
    )
