"""The results page in a real headless browser (Debian's Chromium), driven over the Chrome DevTools protocol.

The page is served by the real status server over a real round (real supervisor, local chain, state store, task
sets, tool-call and caption scoring; the engine is scripted at the sandbox boundary: tests/support/
round_builder.py). The browser checks what a visitor sees: every model on the leaderboard, a chart whose paths the
browser laid out with a length, a hostile model name shown as text (no script ran, no dialog opened, no hidden
control character), a model page with its tasks and a caption's fact check. The screenshot is what the README shows:
`HARNESS_UPDATE_SCREENSHOT=1` writes it to docs/img/results-page.png.

Chromium comes from Debian's packages (`apt-get install chromium`; .ci/run installs it); where it is missing the
test is skipped with the reason, except under CI, where it fails.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from harness.views.status_server import StatusServer
from harness.web.site import ResultsSite
from harness.web.text import visible
from tests.support.round_builder import HOSTILE, MINERS, build_rounds

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "img" / "results-page.png"
WIDTH, HEIGHT = 1280, 1100


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required here (CI installs it: apt-get install chromium)", pytrace=False)
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


class DevTools:
    """A minimal Chrome DevTools protocol client over one page's websocket: commands and the events seen."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, timeout_s: float = 30.0, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout_s
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self.events.append(message)

    def wait_event(self, method: str, timeout_s: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            for event in self.events:
                if event.get("method") == method:
                    self.events.remove(event)
                    return event
            self.events.append(json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic()))))

    def open(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def js(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")


@contextlib.contextmanager
def browser(tmp_path: Path) -> Iterator[DevTools]:
    profile = tmp_path / "profile"
    process = subprocess.Popen(
        [
            _chromium(),
            "--headless=new",
            "--no-sandbox",  # as root in CI containers; the page runs no script anyway (CSP default-src 'none')
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            f"--window-size={WIDTH},{HEIGHT}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert process.poll() is None, "chromium exited at start"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port in 60 s"
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            pages = [t for t in json.loads(response.read()) if t["type"] == "page"]
        with connect(pages[0]["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024) as socket:
            tools = DevTools(socket)
            tools.send("Page.enable")
            tools.send(
                "Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False
            )
            yield tools
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_results_page_in_a_real_browser(tmp_path: Path) -> None:
    settings, store, _chain = build_rounds(tmp_path, rounds=3, competition="any2any")
    server = StatusServer("127.0.0.1", 0, status=lambda: {}, alive=lambda: True, site=ResultsSite(settings, store))
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        with browser(tmp_path) as page:
            page.open(f"{base}/")
            assert page.js("document.querySelectorAll('#leaderboard tr.model-row').length") == len(MINERS) + 1
            lengths = page.js(
                "Array.from(document.querySelectorAll('svg.chart path.series')).map(p => p.getTotalLength())"
            )
            assert len(lengths) == len(MINERS) and all(length > 100 for length in lengths), lengths
            names = page.js("Array.from(document.querySelectorAll('.model-name')).map(e => e.textContent)")
            assert f"org/{visible(HOSTILE)}" in names  # the hostile name, as visible text
            assert page.js("document.querySelectorAll('script').length") == 0
            assert not page.js("/[\\u001b\\u202e]/.test(document.body.innerText)")
            assert page.js("document.body.innerText").count("How the weight follows") == 1
            shot = base64.b64decode(page.send("Page.captureScreenshot", format="png")["data"])
            page.open(f"{base}/models/hk-some")
            tasks = settings.tasks.toolcall_n + settings.tasks.caption_n
            assert page.js("document.querySelectorAll('tr.task').length") == tasks
            text = page.js("document.body.innerText")
            assert "facts asserted" in text and "ast_decoder:decoder_failed" in text
            assert page.js("document.querySelectorAll('svg.chart path.series').length") == 2
            page.open(f"{base}/models/hk-hostile")
            assert page.js("document.querySelectorAll('script').length") == 0
            assert not any(e.get("method") == "Page.javascriptDialogOpening" for e in page.events)
    finally:
        server.stop()
        store.close()
    assert shot.startswith(b"\x89PNG\r\n\x1a\n") and len(shot) > 20_000
    (tmp_path / "results-page.png").write_bytes(shot)
    if os.environ.get("HARNESS_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(shot)
