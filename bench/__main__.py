"""Run benchmarks: `python -m bench [NAME ...]`; each writes bench/results/NAME.json.

A benchmark module `bench/bench_NAME.py` exposes `run() -> dict`. Ratios are measured inside one run so
that the shared, noisy machine affects both sides alike.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def main(argv: list[str]) -> int:
    names = argv or sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    )
    RESULTS.mkdir(exist_ok=True)
    failed = 0
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        started = time.time()
        print(f"bench {name} ...", file=sys.stderr, flush=True)
        try:
            result = module.run()
        except Exception as exc:  # one broken benchmark must not hide the others' results
            failed += 1
            result = {"error": f"{type(exc).__name__}: {exc}"}
        result["_meta"] = {
            "started_unix": round(started, 3),
            "seconds": round(time.time() - started, 3),
            "python": platform.python_version(),
            "machine": platform.machine(),
        }
        out = RESULTS / f"{name}.json"
        out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        print(f"bench {name}: {out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
