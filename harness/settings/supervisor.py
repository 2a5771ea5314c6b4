"""Settings of the validator service (`supervisor` section)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class SupervisorConfig(BaseModel):
    round_interval_s: float = Field(
        default=600.0, ge=0, description="Seconds from one round's start to the next (the weights cadence)."
    )
    prepare_ahead: int = Field(
        default=1, ge=0, le=8, description="Models whose policy check and download run while another is evaluated."
    )
    model_time_budget_s: float = Field(
        default=1800.0, gt=0, description="Wall-clock budget of one model's evaluation; unanswered tasks score 0."
    )
    max_models_per_round: int = Field(
        default=256, ge=1, description="Commitments a round plans, in the schedule's order (docs/rounds.md)."
    )
    round_budget_s: float | None = Field(
        default=None,
        ge=0,
        description="Seconds a round evaluates before it sets weights; models not reached are carried to the next "
        "round. Unset: until `weights_margin_s` before the epoch ends, where the block time is known "
        "(`block_time_s`); 0: no bound (every planned model, however long).",
    )
    block_time_s: float | None = Field(
        default=None,
        ge=0,
        description="Seconds per block for the epoch deadline. Unset: 12 on bittensor; the local chain has no epoch "
        "deadline unless this is set (its epochs are a demo's clock, often shorter than one evaluation).",
    )
    weights_margin_s: float = Field(
        default=300.0, ge=0, description="Seconds before the epoch's end at which a budgeted round stops evaluating."
    )
    leaders_per_round: int = Field(
        default=3,
        ge=0,
        description="Top models by moving standing (per competition) re-evaluated every round, after the new ones.",
    )
    recommit_cooldown_epochs: int = Field(
        default=3,
        ge=0,
        description="Epochs after a hotkey's commitment was first evaluated in which its next commitment waits its "
        "turn instead of going first (0: never waits); bounds a flood of re-commits.",
    )
    default_competition: str = Field(default="toolcall", description="Competition of a commitment that names none.")
    status_host: str = Field(default="127.0.0.1", description="Address of the status endpoint.")
    image: str = Field(
        default="harness-supervisor:latest", description="Image of this service for docker-compose (`make images`)."
    )
    status_port: int | None = Field(
        default=None, ge=0, le=65535, description="Port of the /health and /status endpoint; unset: no endpoint."
    )
    executor: Literal["local", "ray"] = Field(
        default="local",
        description="Where models are evaluated: `local` (this host's sandbox slots) or `ray` (one Ray task per model "
        "on worker nodes with a `sandbox_slot` resource and their own Docker engine; docs/scale.md).",
    )
    ray_address: str = Field(
        default="auto",
        description="Ray cluster to join when `executor = ray`: `auto` (a cluster started on this host), "
        "`HOST:PORT` of the head, or `ray://HOST:PORT` (Ray client). Loopback or private addresses only, unless "
        "`ray_address_secured` is set: Ray's ports are unauthenticated.",
    )
    ray_address_secured: bool = Field(
        default=False,
        description="The operator has made the Ray head's ports reachable only from the cluster's hosts (firewall, "
        "VPN): lets `ray_address` be a public address. Anyone who reaches Ray's ports runs code (docs/scale.md).",
    )
