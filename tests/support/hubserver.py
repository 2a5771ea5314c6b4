"""The in-memory Hub stand-in for tests; the server itself lives in `harness.demo.hub_mirror` (shared with the mirror).

Use: `with HubServer() as hub: sha = hub.add_repo("org/name", folder); ... hub.url ...`. Every request is
recorded in `hub.requests` (method, path, Range header, bytes sent); `hub.fail_next(n)` answers the next n
requests with 503; `hub.honour_range = False` makes it ignore Range headers. Binds 127.0.0.1 on a random port.
"""

from __future__ import annotations

from harness.demo.hub_mirror import HubServer, Request

__all__ = ["HubServer", "Request"]
