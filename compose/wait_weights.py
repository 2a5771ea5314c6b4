"""Wait until the supervisor's /status shows weights set: `python compose/wait_weights.py STATUS_URL SECONDS`.

Used by `make harness-up` before it trains the demo VLM in the background: on 2 cores the training and the first
round's engine would share the CPU, and an engine's threads spinning against a training thread made each task
minutes long (first weights 697 s after harness-up started, instead of about 4 min). Exits 0 at the first weights,
1 when the time is up (the training then starts anyway). Standard library only.
"""

import json
import sys
import time
import urllib.request


def main() -> int:
    url, limit = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 900.0
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if json.load(response).get("last_weights"):
                    return 0
        except (OSError, ValueError):
            pass
        time.sleep(5)
    return 1


if __name__ == "__main__":
    sys.exit(main())
