"""The two JSON documents a validator publishes: its evaluation settings (`/settings.json`) and one round's results
(`/rounds/N.json`), both signed with its hotkey (`harness.web.signing`).

The settings document carries only what changes which tasks a model gets and how they score (the shape agreed in
/work/helpers/W_settings_shape.md, read by `harness selftest --like-validator`): never a file path, URL, wallet
name or other secret. Its leaves are real setting paths, so a miner applies them as `--set` overrides.
"""

from __future__ import annotations

from typing import Any

from harness.settings.root import Settings
from harness.state.queries import StateReadModel
from harness.web.results import LIMITS, Limits, round_view

SETTINGS_FORMAT = "harness-settings/1"
ROUND_FORMAT = "harness-round/1"

PUBLISHED_SETTINGS: dict[str, tuple[str, ...]] = {
    "tasks": (
        "toolcall_n",
        "caption_n",
        "toolcall_categories",
        "bfcl_fraction",
        "bfcl_categories",
        "private_pool_fraction",
        "feed_fraction",
        "feed_perturb",
        "caption_prompt",
        "caption_jsonl_fraction",
        "image_size",
    ),
    "evaluation": ("max_tokens", "temperature", "seed", "request_timeout_s", "concurrency"),
    "scoring": (
        "toolcall_score",
        "caption_max_words",
        "ci_level",
        "ema_alpha",
        "new_model_prior",
        "weights_method",
        "softmax_temperature",
        "copy_margin",
        "copy_level",
    ),
    "sandbox": ("engine",),
    "supervisor": ("default_competition", "model_time_budget_s"),
}
"""Section -> the settings published from it (an allowlist: a new setting is private until listed here)."""


def settings_document(settings: Settings) -> dict[str, Any]:
    """The validator's evaluation settings, unsigned."""
    sections = {}
    for section, keys in PUBLISHED_SETTINGS.items():
        values = getattr(settings, section).model_dump(mode="json")
        sections[section] = {key: values[key] for key in keys}
    return {
        "format": SETTINGS_FORMAT,
        "default_competition": settings.supervisor.default_competition,
        "competitions": {
            name: {"families": dict(config.families)} for name, config in sorted(settings.competitions.items())
        },
        "settings": sections,
        "unreproducible": {
            "private_pool": settings.tasks.private_pool is not None,
            "feed": bool(settings.tasks.feed_url),
            "caption_jsonl": settings.tasks.caption_jsonl is not None and settings.tasks.caption_jsonl_fraction > 0,
        },
    }


def round_document(read: StateReadModel, round_id: int, settings: Settings, limits: Limits = LIMITS) -> dict[str, Any]:
    """One round's results, unsigned: the leaderboard view (verdicts, scores with intervals, moving values,
    weights, failures, the rule) and every judged model's per-task scores, so an auditor can redo the
    comparisons."""
    view = round_view(read, round_id, settings.scoring, limits)
    task_scores = read.round_task_scores(round_id)
    for model in view["models"]:
        scores = task_scores.get(model["identity"] or "", {})
        model["task_scores"] = dict(sorted(scores.items())[: limits.tasks * 4])
    return {"format": ROUND_FORMAT, **view}
