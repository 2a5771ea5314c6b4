"""`harness report` explains every number: the demo's round (a VLM, a text-only model, a copy of the VLM and a
hostile-named noised VLM), run by the real supervisor on the real local chain and state store with task results
shaped as the demo recorded them (2026-12-05, round 7), then rendered as text, Markdown and JSON.

What would break: a 0.000 without a reason a miner can act on, a copy shown as `allowed`, a hotkey cut short in
Markdown or JSON, the weight rule's inputs missing, an answer at the token cap not flagged, a model's escape
sequence reaching the terminal."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from chain.local import LocalChain
from harness.cli.app import main
from harness.evaluation.contract import EvaluationOutcome, EvaluationRequest
from harness.models.prepare import PreparedModel
from harness.settings.root import Settings
from harness.views.explain import task_reason
from harness.views.markdown import report_markdown
from harness.views.round_report import explained_report
from harness.views.tables import render_report
from tests.support.rounds import Stages, answer_tasks, commit, scripted_supervisor

MAX_TOKENS = 128
VLM = "5Gvlm" + "V" * 43  # full-length (48 character) hotkeys: the Markdown and JSON must not cut them
TEXT = "5Gtxt" + "T" * 43
COPY = "5Gcpy" + "C" * 43
NOISED = "5Gnoi" + "N" * 43
HOSTILE_ANSWER = "One red\x1b]52;c;cm0gLXJmIH4=\x07 circle\x9b2J\u202egnp.exe\u200b\U000e0041 on white."
CAPTIONS = 4


def _caption(score: float, content: str) -> tuple[float, dict[str, Any]]:
    return score, {"family": "caption", "category": "caption", "content": content, "error": None,
                   "completion_tokens": 12, "flags": []}  # fmt: skip


def _withheld() -> tuple[float, dict[str, Any]]:
    return 0.0, {"family": "caption", "category": "caption", "content": None, "error": "not-vision-capable"}


def _toolcall(content: str, tokens: int) -> tuple[float, dict[str, Any]]:
    return 0.0, {"family": "toolcall", "category": "live_multiple", "content": content, "error": None,
                 "error_type": "ast_decoder:decoder_failed", "valid": False, "completion_tokens": tokens}  # fmt: skip


class DemoStages(Stages):
    """The demo's models as task results: what each answered, task by task (t0-t3 captions, t4-t5 tool calls)."""

    def __init__(self) -> None:
        super().__init__({VLM: "vlm", TEXT: "txt", COPY: "vlm", NOISED: "noi"}, {}, tasks=CAPTIONS + 2)
        rambling = "En específica, estoy explorando la manera de trabajar " * 8
        self.answers: dict[str, list[tuple[float, dict[str, Any]]]] = {
            VLM: [_caption(s, "Five yellow circles on a pale blue background.") for s in (0.99, 0.05, 0.39, 0.0)]
            + [_toolcall("I'm sorry, I can help you find a 3D movie.", 81), _toolcall(rambling, MAX_TOKENS)],
            TEXT: [_withheld() for _ in range(CAPTIONS)]
            + [_toolcall("I'm sorry, I can help you find a 3D movie.", 81), _toolcall(rambling, MAX_TOKENS)],
            NOISED: [_caption(s, HOSTILE_ANSWER) for s in (0.1, 0.0, 0.2, 0.0)]
            + [_toolcall(HOSTILE_ANSWER, 20), _toolcall(rambling, MAX_TOKENS)],
        }

    def evaluate(self, prepared: PreparedModel, request: EvaluationRequest) -> EvaluationOutcome:
        hotkey = prepared.facts["hotkey"]
        answers = self.answers[hotkey]
        score = answer_tasks(request, self.tasks, lambda task: answers[int(task[1:])])
        captions = [s for s, _ in answers[:CAPTIONS]]
        families = {
            "caption": {"mean": sum(captions) / CAPTIONS, "n": CAPTIONS},
            "toolcall": {"mean": 0.0, "n": 2},
        }
        return EvaluationOutcome(score=score, details={"competition": "any2any", "families": families})


@pytest.fixture
def demo_round(tmp_path: Path) -> tuple[Path, int]:
    chain = LocalChain(tmp_path / "chain.sqlite", block_period_s=0, tempo=20)
    for hotkey, repo, tag in ((VLM, "demo/vlm", "1"), (TEXT, "demo/smollm2", "2"), (COPY, "copycat/vlm", "1")):
        commit(chain, hotkey, repo, tag)
    commit(chain, NOISED, "demo/vlm-noised", "3")
    chain.advance(20)  # into the next epoch: its seed block sees every commitment
    stages = DemoStages()
    sup = scripted_supervisor(tmp_path, chain, stages, weights_method="winrate", ema_alpha=0.3, new_model_prior=0.0)
    round_id = sup.run_round()
    sup.store.close()
    return tmp_path / "state.sqlite", round_id


def _report(path: Path, round_id: int) -> dict[str, Any]:
    from harness.state.store import Store

    with Store(path, readonly=True) as store:
        return explained_report(store, round_id, Settings().scoring, MAX_TOKENS)


def test_every_zero_of_every_model_has_a_reason(demo_round: tuple[Path, int]) -> None:
    report = _report(*demo_round)
    evaluations = {e["hotkey"]: e for e in report["evaluations"]}
    assert set(evaluations) == {VLM, TEXT, NOISED}  # the copy is never evaluated: its content is the VLM's
    for e in evaluations.values():
        for row in e["tasks"]:
            if row["score"] <= 0:
                reason = task_reason(row, MAX_TOKENS)
                assert reason and "without a recorded reason" not in reason, row
        for family, value in e["details"]["families"].items():
            if value["mean"] <= 0:
                assert e["family_reasons"][family], (e["hotkey"], family)
        if e["score"] <= 0 or e["weight"] <= 0:
            assert e["why"], e["hotkey"]
    text_only = evaluations[TEXT]
    assert text_only["withheld"] == {"not-vision-capable": CAPTIONS}
    assert "no image input" in text_only["family_reasons"]["caption"]
    assert "vision-language model" in text_only["why"]
    assert "decoder_failed" in text_only["family_reasons"]["toolcall"]
    assert all(e["truncated"] == 1 for e in evaluations.values())  # each rambling answer used the whole cap
    assert [r["id"] for r in text_only["tasks"] if r["truncated"]] == ["t5"]
    assert "covered" in evaluations[NOISED]["why"]  # later and not better: stands at 0


def test_weights_follow_from_the_moving_standing_and_the_rule(demo_round: tuple[Path, int]) -> None:
    report = _report(*demo_round)
    rule = report["weight_rule"]
    assert (rule["method"], rule["ema_alpha"], rule["softmax_temperature"]) == ("winrate", 0.3, 0.05)
    vlm = next(e for e in report["evaluations"] if e["hotkey"] == VLM)
    # the only incumbent: round standing 1, moving standing 0.3 * 1 + 0.7 * prior 0, and all the weight
    assert vlm["round_standing"] == pytest.approx(1.0)
    assert vlm["moving_standing"] == pytest.approx(0.3)
    assert vlm["moving_score"] == pytest.approx(0.3 * vlm["score"])
    assert vlm["weight"] == pytest.approx(1.0)


def test_markdown_names_the_copy_and_keeps_full_hotkeys(demo_round: tuple[Path, int]) -> None:
    report = _report(*demo_round)
    md = report_markdown(report)
    models = {line.split("|")[2].strip(): line for line in md.splitlines() if line.startswith("| ") and "5G" in line}
    assert f"`{COPY}`" in models and "**copy**" in models[f"`{COPY}`"]
    assert "identical content" in models[f"`{COPY}`"]
    assert f"`{VLM}`" in md and "…" not in "".join(k for k in models)
    assert "**Weight rule** (`winrate`)" in md and "alpha 0.3" in md and "0.05" in md
    assert "cut at the token cap (128)" in md
    assert "no image input" in md
    json_report = json.loads(json.dumps(report, default=str))
    assert {m["hotkey"] for m in json_report["models"]} == {VLM, TEXT, COPY, NOISED}
    assert {m["hotkey"]: m["verdict"] for m in json_report["models"]}[COPY] == "copy"


DANGEROUS = re.compile("[\x1b\x07\x9b\u202e\u200b\U000e0041]")


def test_a_hostile_answer_prints_escaped_in_text_and_markdown(demo_round: tuple[Path, int]) -> None:
    report = _report(*demo_round)
    buffer = io.StringIO()
    render_report(Console(file=buffer, width=400, highlight=False), report)
    text = buffer.getvalue()
    md = report_markdown(report)
    for shown in (text, md):
        assert "circle" in shown  # the hostile answer is shown ...
        assert not DANGEROUS.search(shown)  # ... with no raw escape, C1, bidi, zero-width or tag character
        for escaped in ("\\x1b", "\\x9b", "\\u202e", "\\u200b", "\\U000e0041"):
            assert escaped in shown, escaped


def test_report_cli_prints_reasons_in_every_format(
    demo_round: tuple[Path, int], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path, round_id = demo_round
    monkeypatch.setenv("HARNESS_STATE_DB", str(path))
    for flags in ([], ["--markdown"], ["--json"]):
        code = main(["report", str(round_id), *flags, "--set", f"evaluation.max_tokens={MAX_TOKENS}"])
        out, _ = capsys.readouterr()
        assert code == 0
        assert "no image input" in out and "no function call the checker can parse" in out
        assert not DANGEROUS.search(out)
