"""The results site: each public page and document, from the state database, the settings and the signing key.

The status server (`harness.views.status_server`) routes GET requests here; this class knows nothing of HTTP.
Everything it returns is bounded (`harness.web.results.Limits`), escaped by the templates, and free of secrets
(no paths, URLs or key material: the signer's public address only). A finished round's signed document is
cached, since nothing in it changes.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from harness.settings.root import Settings
from harness.state.store import Store
from harness.tasks.taskset import canonical_bytes
from harness.web.chart import Series, chart
from harness.web.pages import render
from harness.web.published import round_document, settings_document
from harness.web.results import (
    LIMITS,
    history,
    latest_round_id,
    model_evaluation_ids,
    model_tasks,
    round_ids,
    round_view,
)
from harness.web.signer import Signer, validator_signer
from harness.web.signing import sign_document
from harness.web.tasks import TaskSets, explain

CHART_LINES = 8
CACHED_ROUNDS = 16
TASKS_SHOWN_ROUNDS = 4
"""Prompts and expected answers are rebuilt for the latest rounds only: a visitor paging through old rounds cannot
make the server rebuild task sets without end (older rounds show scores, answers and reasons)."""


class ResultsSite:
    def __init__(self, settings: Settings, store: Store, signer: Signer | None = None) -> None:
        self.settings = settings
        self.store = store
        self.signer = signer if signer is not None else validator_signer(settings)
        self.task_sets = TaskSets(settings, store)
        self._documents: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()

    # -- documents ------------------------------------------------------------------------------------------

    def _signed(self, document: dict[str, Any]) -> dict[str, Any]:
        document = document | {"signer_kind": self.signer.kind}
        if self.signer.keypair is None:
            return document | {"signer": None, "signature": None}
        return sign_document(document, self.signer.keypair)

    def settings_json(self) -> bytes:
        return json.dumps(self._signed(settings_document(self.settings)), indent=1, ensure_ascii=False).encode()

    def round_json(self, round_id: int) -> bytes | None:
        """The signed round document; None when there is no such round."""
        with self._lock:
            if round_id in self._documents:
                return self._documents[round_id]
        rnd = self.store.read.get_round(round_id)
        if rnd is None:
            return None
        data = canonical_bytes(self._signed(round_document(self.store.read, round_id, self.settings)))
        if rnd.status != "running":
            with self._lock:
                self._documents[round_id] = data
                while len(self._documents) > CACHED_ROUNDS:
                    self._documents.popitem(last=False)
        return data

    # -- pages ----------------------------------------------------------------------------------------------

    def _common(self, view: dict[str, Any] | None = None) -> dict[str, Any]:
        """What every page's header says: the competitions of the round shown (or the default one before any
        round), each with its family weights, and the settings a miner's selftest needs to match."""
        settings = self.settings
        default = settings.supervisor.default_competition
        shown = sorted({m["competition"] for m in (view or {}).get("models", []) if m.get("competition")}) or [default]
        return {
            "signer": self.signer.address,
            "signer_kind": self.signer.kind,
            "summary": {
                "competitions": [
                    {
                        "name": name,
                        "families": dict(settings.competitions[name].families) if name in settings.competitions else {},
                        "default": name == default,
                    }
                    for name in shown
                ],
                "toolcall_n": settings.tasks.toolcall_n,
                "caption_n": settings.tasks.caption_n,
                "max_tokens": settings.evaluation.max_tokens,
                "engine": settings.sandbox.engine,
            },
        }

    def index(self, round_id: int | None = None) -> str | None:
        """The leaderboard of `round_id` (None: the latest judged round); None when that round does not exist."""
        read = self.store.read
        if round_id is None:
            round_id = latest_round_id(read)
        elif read.get_round(round_id) is None:
            return None
        if round_id is None:
            return render("index.html", view=None, chart=None, rounds=[], **self._common())
        view = round_view(read, round_id, self.settings.scoring)
        top = [m["hotkey"] for m in view["models"]][:CHART_LINES]
        lines = history(read, list(dict.fromkeys(top)))
        plot = chart([Series(hk, [(p["round"], p["moving"]) for p in lines.get(hk, [])]) for hk in dict.fromkeys(top)])
        return render("index.html", view=view, chart=plot, rounds=round_ids(read), **self._common(view))

    def model(self, hotkey: str, round_id: int | None = None) -> str | None:
        """One hotkey's models in a round (None: the latest it was judged in); None when it has none there."""
        read = self.store.read
        if round_id is None:
            rows = read.db.query(
                "SELECT MAX(v.round_id) FROM verdicts v JOIN models m ON m.id = v.model_id WHERE m.hotkey=?", (hotkey,)
            )
            round_id = rows[0][0]
            if round_id is None:
                return None
        elif read.get_round(round_id) is None:
            return None
        view = round_view(read, int(round_id), self.settings.scoring)
        models = [m for m in view["models"] if m["hotkey"] == hotkey]
        if not models:
            return None
        finished = view["round"]["status"] != "running"
        recent = int(round_id) in round_ids(read, TASKS_SHOWN_ROUNDS)
        evaluations = model_evaluation_ids(read, int(round_id), hotkey)
        for model in models:
            evaluation_id = evaluations.get(model["model_id"])
            tasks = self.task_sets.tasks(int(round_id), model["competition"]) if finished and recent else {}
            rows = model_tasks(read, evaluation_id) if evaluation_id is not None else []
            model["tasks"] = [
                explain(row, tasks.get(row["id"]), self.settings.evaluation.max_tokens, finished) for row in rows
            ]
            model["tasks_capped"] = len(rows) >= LIMITS.tasks
        points = history(read, [hotkey]).get(hotkey, [])
        plot = chart(
            [
                Series("moving score", [(p["round"], p["moving"]) for p in points]),
                Series("round score", [(p["round"], p["score"]) for p in points]),
            ]
        )
        return render(
            "model.html",
            hotkey=hotkey,
            models=models,
            view=view,
            chart=plot,
            finished=finished,
            **self._common(),
        )
