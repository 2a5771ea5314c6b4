"""CPU engine: `transformers serve` pinned to the one model at /model, with `/v1/models` answering that model.

Why a wrapper and not the bare CLI: `transformers serve MODEL` (5.x) preloads and pins the model, refuses
requests for any other model, defaults to `--no-trust-remote-code`, and answers `/health` and
`/v1/chat/completions` (tools go to the chat template) — all we need. But its `/v1/models` lists the Hugging
Face cache instead of the pinned model (and fails when no cache exists), so it is patched here to list exactly
the pinned model. Everything else is the stock command line, arguments passed through unchanged, except
`--kv-cache-bytes` (below) and `--render-timeout-s`: chat-template renders run in a killable worker with that
deadline (`bounded_render.py`), and a render past it is answered 422 `template-timeout: ...` while the server
goes on serving.
"""

from __future__ import annotations

import sys
import time

# Used when the harness does not pass --render-timeout-s (an older harness): renders are never unbounded.
DEFAULT_RENDER_TIMEOUT_S = 10.0


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


def _answer_render_failures() -> None:
    """A render that timed out (or failed in its worker) is the request's answer, 422 with the reason; without
    this handler FastAPI answers 500 and the reason is lost."""
    import bounded_render  # beside this file in the image (/opt/engine)
    from fastapi.responses import JSONResponse
    from transformers.cli.serving import server

    build_server = server.build_server

    def build_server_with_render_answers(*args: object, **kwargs: object) -> object:
        app = build_server(*args, **kwargs)

        async def render_failed(_request: object, exc: Exception) -> JSONResponse:
            kind = bounded_render.MARKER if isinstance(exc, bounded_render.TemplateTimeout) else "template-error"
            return JSONResponse(
                {"error": {"type": kind, "message": str(exc)}}, status_code=bounded_render.FAILED_RENDER_STATUS
            )

        app.add_exception_handler(bounded_render.TemplateTimeout, render_failed)
        app.add_exception_handler(bounded_render.TemplateRenderFailed, render_failed)
        return app

    server.build_server = build_server_with_render_answers


def main(argv: list[str]) -> None:
    if "--trust-remote-code" in argv:
        raise SystemExit("serve_cpu: --trust-remote-code is never allowed in the sandbox")
    if not argv or argv[0].startswith("-"):
        raise SystemExit("usage: serve_cpu.py MODEL_DIR [transformers serve options]")
    model = argv[0]
    import bounded_render  # beside this file in the image (/opt/engine)

    render_timeout, argv = bounded_render.take_render_args(argv, DEFAULT_RENDER_TIMEOUT_S)
    _pin_model_listing(model)
    if render_timeout is not None:
        bounded_render.install(render_timeout)
        _answer_render_failures()
    from transformers.cli.transformers import main as transformers_main

    sys.argv = ["transformers", "serve", *_bound_kv_cache(argv)]
    transformers_main()


if __name__ == "__main__":
    main(sys.argv[1:])
