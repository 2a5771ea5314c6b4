"""The results site over a real round (real supervisor, chain, store, task sets and scoring), through the real
status server: what each page and document says, that it says it safely, and that the weights it explains are
the weights set on chain."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.cli.app import main
from harness.state.store import Store
from harness.views.status_server import MAX_PATH_CHARS, StatusServer
from harness.web.pages import render
from harness.web.published import PUBLISHED_SETTINGS
from harness.web.signing import verify_document
from harness.web.site import ResultsSite
from harness.web.text import visible
from tests.support.round_builder import MINERS, build_rounds


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, Any, Any]]:
    tmp_path = tmp_path_factory.mktemp("results")
    settings, store, chain = build_rounds(tmp_path, rounds=2)
    server = StatusServer(
        "127.0.0.1",
        0,
        status=lambda: {"ok": True},
        alive=lambda: True,
        site=ResultsSite(settings, store),
        metrics=lambda: (b"harness_rounds_total 2\n", "text/plain; version=0.0.4"),
    ).start()
    try:
        yield f"http://127.0.0.1:{server.port}", settings, store, chain
    finally:
        server.stop()
        store.close()


def get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_the_round_document_is_signed_and_its_weights_follow_from_the_values_it_shows(served) -> None:  # type: ignore[no-untyped-def]
    base, settings, _store, chain = served
    code, body, _ = get(f"{base}/rounds/2.json")
    assert code == 200
    document = json.loads(body)
    assert verify_document(document) == document["signer"]
    assert document["signer_kind"] == "local-dev"
    on_chain = chain.last_weights()
    by_uid = dict(zip(on_chain.uids, on_chain.weights, strict=True))
    rows = {m["hotkey"]: m for m in document["models"]}
    assert set(MINERS) <= set(rows)
    for hotkey in MINERS:
        row = rows[hotkey]
        assert (row["weight"] or 0.0) == pytest.approx(by_uid.get(row["uid"], 0.0))
        # the page's own computation from the shown moving standings gives the weight that was set
        assert row["computed_share"] == pytest.approx(by_uid.get(row["uid"], 0.0), abs=1e-9)
        assert row["task_scores"] and len(row["task_scores"]) == settings.tasks.toolcall_n
    good, some, words = rows["hk-good"], rows["hk-some"], rows["hk-words"]
    assert good["evaluation"]["score"] == 1.0 and words["evaluation"]["score"] < good["evaluation"]["score"]
    assert 0 < some["weight"] < good["weight"]  # two earned weights: the softmax itself is checked above
    assert good["standing"]["after"] == pytest.approx(
        settings.scoring.ema_alpha * good["standing"]["round"]
        + (1 - settings.scoring.ema_alpha) * good["standing"]["before"]
    )
    assert any(f["class"] == "covered" for f in rows["hk-late-copy"]["failures"])
    assert not rows["hk-late-copy"]["weight"]
    assert main(["verify-report", f"{base}/rounds/2.json", "--signer", document["signer"]]) == 0
    assert get(f"{base}/rounds/99.json")[0] == 404
    assert get(f"{base}/rounds/x1.json")[0] == 404


def test_the_leaderboard_page_lists_every_model_with_the_rule_and_draws_the_history(served) -> None:  # type: ignore[no-untyped-def]
    base, settings, _store, _chain = served
    code, body, headers = get(f"{base}/")
    html = body.decode()
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    assert (
        "script-src" not in headers["Content-Security-Policy"]
        and "default-src 'none'" in headers["Content-Security-Policy"]
    )
    assert html.count('class="model-row"') == len(MINERS) + 1  # the hostile model too
    for hotkey in MINERS:
        assert f'href="/models/{hotkey}?round=2"' in html
    assert f"temperature {settings.scoring.softmax_temperature:g}" in html
    paths = re.findall(r'class="series" d="([^"]*)"', html)
    assert len(paths) == len(MINERS) and all(p.startswith("M") and " L" in p for p in paths)  # two rounds each
    assert get(f"{base}/rounds/1")[0] == 200 and get(f"{base}/rounds/42")[0] == 404


def test_a_model_page_explains_each_task(served) -> None:  # type: ignore[no-untyped-def]
    base, settings, _store, _chain = served
    code, body, _ = get(f"{base}/models/hk-some")
    html = body.decode()
    assert code == 200
    assert html.count('class="task"') == settings.tasks.toolcall_n
    assert "ast_decoder:decoder_failed" in html  # why the unanswered calls scored 0
    assert "No function call could be parsed" in html  # and what to do about it
    assert "I would rather talk about it." in html  # the answer
    assert "&#34;" in html or "&quot;" in html  # the expected call, JSON, escaped
    copy = get(f"{base}/models/hk-late-copy")[1].decode()
    assert "weights/covered" in copy and "Beat every earlier model" in copy
    assert get(f"{base}/models/nobody")[0] == 404
    assert get(f"{base}/models/hk-some?round=77")[0] == 404
    assert get(f"{base}/models/hk-some?round=abc")[0] == 400


def test_hostile_text_renders_as_visible_text_never_markup_or_controls(served) -> None:  # type: ignore[no-untyped-def]
    base, *_ = served
    for path in ("/", "/models/hk-hostile"):
        html = get(base + path)[1].decode()
        assert "<script>" not in html and "\x1b" not in html and "\u202e" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;\\x1b[31mRED\\u202egnp.exe" in html
    assert visible("a\u200bb\nc\td\x1b") == "a\\u200bb\nc\td\\x1b"
    assert "<b>" not in render("error.html", code=404, message="<b>x</b>", signer=None, signer_kind=None)


def test_settings_document_publishes_the_allowlist_and_nothing_private(served) -> None:  # type: ignore[no-untyped-def]
    base, settings, _store, _chain = served
    code, body, _ = get(f"{base}/settings.json")
    document = json.loads(body)
    assert code == 200 and verify_document(document)
    assert {k: set(v) for k, v in document["settings"].items()} == {k: set(v) for k, v in PUBLISHED_SETTINGS.items()}
    assert document["settings"]["tasks"]["toolcall_n"] == settings.tasks.toolcall_n
    assert document["settings"]["evaluation"]["max_tokens"] == settings.evaluation.max_tokens
    assert document["default_competition"] == "toolcall" and "any2any" in document["competitions"]
    assert str(settings.cache_dir) not in body.decode() and "wallet" not in body.decode()


def test_server_is_read_only_bounded_and_keeps_health_status_and_metrics(served) -> None:  # type: ignore[no-untyped-def]
    base, *_ = served
    assert get(f"{base}/health")[0] == 200 and json.loads(get(f"{base}/status")[1]) == {"ok": True}
    code, body, headers = get(f"{base}/metrics")
    assert code == 200 and body.startswith(b"harness_rounds_total") and headers["Content-Type"].startswith("text/plain")
    request = urllib.request.Request(f"{base}/", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    assert raised.value.code == 501
    assert get(f"{base}/models/{'x' * MAX_PATH_CHARS}")[0] == 414
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:  # a head over the cap is refused
        sock.sendall(b"GET / HTTP/1.0\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
        assert sock.recv(64).startswith(b"HTTP/1.0 431")


def test_no_metrics_route_without_a_metrics_source(tmp_path: Path) -> None:
    server = StatusServer("127.0.0.1", 0, status=lambda: {}, alive=lambda: True).start()
    try:
        assert get(f"http://127.0.0.1:{server.port}/metrics")[0] == 404
        assert get(f"http://127.0.0.1:{server.port}/")[0] == 404  # no site: no page
    finally:
        server.stop()


def test_the_header_names_the_competitions_of_the_round_shown_not_only_the_default(tmp_path: Path) -> None:
    """A validator whose default is toolcall shows a round of any2any commitments: the header names any2any and
    its families (what a miner must match), and says which one is the default only when it is shown."""
    settings, store, _chain = build_rounds(tmp_path, rounds=1, competition="any2any")
    try:
        shown_as = settings.model_copy(
            update={"supervisor": settings.supervisor.model_copy(update={"default_competition": "toolcall"})}
        )
        html = ResultsSite(shown_as, store).index()
        assert html is not None
        header = html[html.index('<p class="muted">') : html.index("</p>", html.index('<p class="muted">'))]
        families = settings.competitions["any2any"].families
        assert "Competition <b>any2any</b> (families " in header, header
        assert all(f"{family} {weight}" in header for family, weight in families.items()), header
        assert "toolcall</b>" not in header and "(the default)" not in header
        empty = ResultsSite(shown_as, Store(tmp_path / "empty.sqlite")).index()
        assert empty is not None and "Competition <b>toolcall</b> (the default)" in empty
    finally:
        store.close()
