"""A score-history chart as numbers: the page's SVG template draws these paths and ticks (no HTML built here).

Rounds run along x, scores (0 to 1) along y; each series is one model's line. The geometry is computed here so the
template stays declarative and the test can assert what the page must draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[int, float | None]]
    """(round, value); a None value breaks the line."""


@dataclass
class Chart:
    width: int
    height: int
    pad: int
    lines: list[dict] = field(default_factory=list)
    x_ticks: list[dict] = field(default_factory=list)
    y_ticks: list[dict] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(line["dots"] for line in self.lines)


def chart(series: Sequence[Series], width: int = 640, height: int = 220, pad: int = 36) -> Chart:
    rounds = sorted({r for s in series for r, v in s.points if v is not None})
    out = Chart(width, height, pad)
    if not rounds:
        return out
    first, last = rounds[0], rounds[-1]
    span = max(1, last - first)

    def x(r: int) -> float:
        return round(pad + (r - first) / span * (width - 2 * pad), 2) if last > first else width / 2

    def y(v: float) -> float:
        return round(height - pad - min(1.0, max(0.0, v)) * (height - 2 * pad), 2)

    for s in series:
        commands, dots, pen_down = [], [], False
        for r, v in s.points:
            if v is None:
                pen_down = False
                continue
            commands.append(f"{'L' if pen_down else 'M'}{x(r)},{y(v)}")
            dots.append({"x": x(r), "y": y(v), "round": r, "value": v})
            pen_down = True
        if not dots:  # a model without history draws nothing (and takes no colour)
            continue
        out.lines.append(
            {"name": s.name, "d": " ".join(commands), "colour": PALETTE[len(out.lines) % len(PALETTE)], "dots": dots}
        )
    step = max(1, len(rounds) // 8)
    out.x_ticks = [{"x": x(r), "label": str(r)} for r in rounds[::step]]
    out.y_ticks = [{"y": y(v), "label": f"{v:.2f}"} for v in (0.0, 0.25, 0.5, 0.75, 1.0)]
    return out
