"""GPU engine: sglang's own launcher, with chat-template renders bounded by a deadline.

Why a wrapper: sglang renders a model's chat template on its HTTP server's event loop (the tokenizer manager,
in this main process), with no time limit of its own; a template that loops for minutes stops every request
and `/health` behind it. This wrapper takes `--render-timeout-s SECONDS` out of the argument list, routes every
render through a killable worker with that deadline (`bounded_render.py`, beside this file), then runs
`python3 -m sglang.launch_server` with the remaining arguments, unchanged. A render past its deadline raises a
`ValueError` starting with `template-timeout:`, which sglang answers as a 400 with that message.

Usage: python3 /opt/engine/serve_sglang.py --render-timeout-s 10 --model-path /model --host 127.0.0.1 ...
"""

from __future__ import annotations

import runpy
import sys

import bounded_render  # beside this file in the image (/opt/engine)

DEFAULT_RENDER_TIMEOUT_S = 10.0


def main(argv: list[str]) -> None:
    if "--trust-remote-code" in argv:
        raise SystemExit("serve_sglang: --trust-remote-code is never allowed in the sandbox")
    render_timeout, rest = bounded_render.take_render_args(argv, DEFAULT_RENDER_TIMEOUT_S)
    if render_timeout is not None:
        bounded_render.install(render_timeout)
    sys.argv = ["sglang.launch_server", *rest]
    runpy.run_module("sglang.launch_server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
