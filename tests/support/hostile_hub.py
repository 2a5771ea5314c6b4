"""A hostile Hub for tests: answers the Hub's two routes (model info, file resolve) the way an attacker would.

`HostileHub(behaviour)` binds 127.0.0.1 on a random port. `behaviour` picks the attack:
- `huge-info`: a model-info body that never ends (zeros streamed until the client hangs up)
- `gzip-info`: model info sent `Content-Encoding: gzip` (64 MiB of zeros in ~64 KB) although identity was asked
- `drip-info`: model info one byte every 0.2 s, each read well inside the client's per-read timeout
- `drip-head`: every answer's status line and headers one byte every 0.2 s, without end (no socket timeout
  ever fires, since each read gets a byte)
- `many-files`: a listing of 20 000 files
- `huge-size`: a file listed at 10**30 bytes
- `lying-size`: `config.json` listed at 216 bytes, its download streams until the client hangs up
- `range-ignored`: every file read ignores `Range` and streams without end
- `redirect-http`: file reads redirect to plain http on another host
- `redirect-loop`: file reads redirect to themselves, forever
- `redirect-local`: file reads redirect once to another path on the same origin, which serves the file
- `listed`: lists `files` (name -> bytes; any names, however long or colliding) and serves each
- `two-faced`: serves `folder` honestly to Range reads (what a metadata check does) but answers plain GETs
  (what a download does) with `swap[path]`, bytes of the same length
Everything the server writes is counted in `bytes_sent` (per path), so tests can assert the client hung up early.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

SHA = "a" * 40
CHUNK = 64 * 1024
SMALL_FILE = b'{"architectures": ["LlamaForCausalLM"]}'


class HostileHub:
    def __init__(
        self,
        behaviour: str,
        folder: Path | None = None,
        swap: dict[str, bytes] | None = None,
        files: dict[str, bytes] | None = None,
    ) -> None:
        self.behaviour = behaviour
        self.files = files or {}
        self.folder = folder
        self.swap = swap or {}
        self.bytes_sent: dict[str, int] = defaultdict(int)
        self.requests: dict[str, int] = defaultdict(int)  # per path, counted by the behaviours that need it
        self.lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                    hub.answer(self)  # a hang-up by the client is the point

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HostileHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- answers -------------------------------------------------------------------------------------------

    def listing(self) -> dict:
        if self.folder is not None:
            names = sorted(p.relative_to(self.folder).as_posix() for p in self.folder.rglob("*") if p.is_file())
            return {"sha": SHA, "siblings": [{"rfilename": n, "size": (self.folder / n).stat().st_size} for n in names]}
        if self.behaviour == "listed":
            return {"sha": SHA, "siblings": [{"rfilename": n, "size": len(b)} for n, b in sorted(self.files.items())]}
        files = [{"rfilename": "config.json", "size": len(SMALL_FILE)}]
        if self.behaviour == "many-files":
            files += [{"rfilename": f"f{i}.json", "size": 2} for i in range(20_000)]
        if self.behaviour == "huge-size":
            files.append({"rfilename": "model.safetensors", "size": 10**30})
        if self.behaviour == "lying-size":
            files[0]["size"] = 216
        return {"sha": SHA, "siblings": files}

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        path = unquote(urlsplit(h.path).path)
        if self.behaviour == "drip-head":
            self.drip_head(h, path)
        elif path.startswith("/api/models/"):
            self.info(h, path)
        elif "/resolve/" in path or path.startswith("/elsewhere/"):
            self.file(h, path)
        else:
            self.send(h, 404, b"{}", path)

    def info(self, h: BaseHTTPRequestHandler, path: str) -> None:
        body = json.dumps(self.listing()).encode()
        if self.behaviour == "huge-info":
            self.endless(h, path, declare=False)
        elif self.behaviour == "gzip-info":
            bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
            self.send(h, 200, bomb, path, {"content-encoding": "gzip", "content-type": "application/json"})
        elif self.behaviour == "drip-info":
            h.send_response(200)
            h.send_header("content-length", str(len(body)))
            h.end_headers()
            for i in range(len(body)):
                h.wfile.write(body[i : i + 1])
                h.wfile.flush()
                self.count(path, 1)
                time.sleep(0.2)
        else:
            self.send(h, 200, body, path, {"content-type": "application/json"})

    def file(self, h: BaseHTTPRequestHandler, path: str) -> None:
        if self.behaviour == "two-faced":
            self.two_faced(h, path)
        elif self.behaviour == "listed":
            self.send(h, 200, self.files.get(path.split(f"/resolve/{SHA}/", 1)[-1], b""), path)
        elif self.behaviour == "redirect-http":
            self.send(h, 302, b"", path, {"location": "http://example.invalid/x"})
        elif self.behaviour == "redirect-loop":
            self.send(h, 302, b"", path, {"location": path})
        elif self.behaviour == "redirect-local" and not path.startswith("/elsewhere/"):
            self.send(h, 302, b"", path, {"location": "/elsewhere" + path})
        elif self.behaviour in ("lying-size", "range-ignored"):
            self.endless(h, path, declare=self.behaviour == "range-ignored")
        else:
            self.send(h, 200, SMALL_FILE, path)

    def two_faced(self, h: BaseHTTPRequestHandler, path: str) -> None:
        name = path.split(f"/resolve/{SHA}/", 1)[-1]
        assert self.folder is not None
        honest = (self.folder / name).read_bytes()
        ranged = h.headers.get("range")
        if ranged:
            start, _, end = ranged.removeprefix("bytes=").partition("-")
            part = honest[int(start) : int(end) + 1]
            self.send(h, 206, part, path, {"content-range": f"bytes {start}-{end}/{len(honest)}"})
        else:
            self.send(h, 200, self.swap.get(name, honest), path)

    def send(self, h: BaseHTTPRequestHandler, code: int, body: bytes, path: str, headers: dict | None = None) -> None:
        h.send_response(code)
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.send_header("content-length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
        self.count(path, len(body))

    def endless(self, h: BaseHTTPRequestHandler, path: str, *, declare: bool) -> None:
        """A body of zeros streamed until the client hangs up (2 GB as a backstop); it declares 10 GB, or no
        length at all (read-until-close), so only the client's running count can stop it."""
        h.send_response(200)
        if declare:
            h.send_header("content-length", str(10 * 1024**3))
        else:
            h.send_header("connection", "close")
            h.close_connection = True
        h.end_headers()
        chunk = b"\0" * CHUNK
        for _ in range(2 * 1024**3 // CHUNK):
            h.wfile.write(chunk)
            self.count(path, CHUNK)

    def drip_head(self, h: BaseHTTPRequestHandler, path: str) -> None:
        """A status line, then one header whose value never ends, one byte per 0.2 s (an hour as a backstop)."""
        self.requests[path] += 1
        head = b"HTTP/1.1 200 OK\r\nx-pad: "
        for i in range(18_000):
            h.wfile.write(head[i : i + 1] if i < len(head) else b"a")
            h.wfile.flush()
            self.count(path, 1)
            time.sleep(0.2)

    def count(self, path: str, n: int) -> None:
        with self.lock:
            self.bytes_sent[path] += n

    def sent_to(self, fragment: str) -> int:
        with self.lock:
            return sum(n for p, n in self.bytes_sent.items() if fragment in p)
