"""Wait until a URL answers 200 (the supervisor's /health): `python compose/wait_health.py URL SECONDS`.

Used by `make harness-up`; standard library only so it runs before anything else is installed.
"""

import sys
import time
import urllib.error
import urllib.request


def main() -> int:
    url, limit = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 120.0
    deadline = time.monotonic() + limit
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                if response.status == 200:
                    print(f"{url}: healthy")
                    return 0
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except (OSError, urllib.error.URLError) as exc:
            last = str(getattr(exc, "reason", exc))
        time.sleep(2)
    print(f"{url}: not healthy after {limit:.0f} s ({last})", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
