"""The near-copy of SmolLM2 the real-round tests commit: 2 % seeded weight noise, new content, nearly the same
answers; built once per machine into the bundled cache (its name carries the seed and scale)."""

from __future__ import annotations

from pathlib import Path

from harness.demo.bundled_models import ensure_built, noised_copy

NOISE_SCALE = 0.02  # of each weight matrix's standard deviation: far below what changes SmolLM2's answers much
NOISE_SEED = 20260321


def nearcopy_dir(smollm2: Path, cache_dir: Path) -> Path:
    """SmolLM2 with 2 % seeded Gaussian noise on every weight matrix: new content, nearly the same answers."""
    name = f"smollm2-135m-nearcopy-{NOISE_SEED}-{round(NOISE_SCALE * 100)}"
    return ensure_built(name, lambda out, _cache: noised_copy(smollm2, out, NOISE_SEED, NOISE_SCALE, _every), cache_dir)


def _every(_name: str) -> bool:
    return True
