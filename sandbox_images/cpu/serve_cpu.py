"""CPU engine: `transformers serve` pinned to the one model at /model, with `/v1/models` answering that model.

Why a wrapper and not the bare CLI: `transformers serve MODEL` (5.x) preloads and pins the model, refuses
requests for any other model, defaults to `--no-trust-remote-code`, and answers `/health` and
`/v1/chat/completions` (tools go to the chat template) — all we need. But its `/v1/models` lists the Hugging
Face cache instead of the pinned model (and fails when no cache exists), so it is patched here to list exactly
the pinned model. Everything else is the stock command line, arguments passed through unchanged.
"""

from __future__ import annotations

import sys
import time


def _pin_model_listing(model_id: str) -> None:
    from transformers.cli.serving.model_manager import ModelManager

    created = int(time.time())

    def pinned(cache_dir: str | None = None) -> list[dict]:
        return [{"id": model_id, "object": "model", "created": created, "owned_by": "sandbox"}]

    ModelManager.get_gen_models = staticmethod(pinned)


def _bound_kv_cache(argv: list[str]) -> list[str]:
    """`--kv-cache-bytes N` (from the sandbox's memory limit) -> `--cb-max-memory-percent`: on CPU, transformers
    sizes the continuous-batching cache as a share of the host's RAM, which a container's limit does not cap."""
    if "--kv-cache-bytes" not in argv:
        return argv
    at = argv.index("--kv-cache-bytes")
    import psutil

    share = min(int(argv[at + 1]) / psutil.virtual_memory().total, 0.6)
    return [*argv[:at], "--cb-max-memory-percent", f"{share:.6f}", *argv[at + 2 :]]


def main(argv: list[str]) -> None:
    if "--trust-remote-code" in argv:
        raise SystemExit("serve_cpu: --trust-remote-code is never allowed in the sandbox")
    if not argv or argv[0].startswith("-"):
        raise SystemExit("usage: serve_cpu.py MODEL_DIR [transformers serve options]")
    model = argv[0]
    _pin_model_listing(model)
    from transformers.cli.transformers import main as transformers_main

    sys.argv = ["transformers", "serve", *_bound_kv_cache(argv)]
    transformers_main()


if __name__ == "__main__":
    main(sys.argv[1:])
