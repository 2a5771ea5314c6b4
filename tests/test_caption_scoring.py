"""Caption scoring: right beats wrong on the real embedding model; degenerate answers are penalised."""

from __future__ import annotations

import pytest

from harness.tasks import build_family
from harness.tasks.config import TasksConfig
from scoring.caption import CaptionScorer, echoes_prompt, is_repetitive, penalties

PROMPT = "Describe this image in one short sentence."


def test_penalties_are_pure_and_targeted() -> None:
    assert penalties("", PROMPT) == (0.0, ("empty",))
    assert penalties("  ...  ", PROMPT)[0] == 0.0
    assert penalties("Two red circles on a white background.", PROMPT) == (1.0, ())
    factor, flags = penalties("red " * 200, PROMPT, max_words=60)
    assert "too-long" in flags and "repetitive" in flags and factor < 0.1
    assert is_repetitive("the cat the cat the cat the cat the cat the cat")
    assert not is_repetitive("a small blue square beside three green triangles at the top")
    assert echoes_prompt("Describe this image in one short sentence", PROMPT)
    assert "echo" in penalties("Describe this image.", PROMPT)[1]


@pytest.fixture(scope="module")
def scorer() -> CaptionScorer:
    return CaptionScorer()


def test_right_caption_beats_wrong_one_on_generated_scenes(scorer: CaptionScorer) -> None:
    tasks = build_family("caption-test", "caption", 6, TasksConfig())["tasks"]
    refs = [t["references"] for t in tasks]
    right = [r[0].lower().replace("background", "backdrop") for r in refs]
    wrong = right[1:] + right[:1]  # each task gets another scene's caption
    good = scorer.score(right, refs, [PROMPT] * 6)
    bad = scorer.score(wrong, refs, [PROMPT] * 6)
    assert sum(g.score > b.score for g, b in zip(good, bad, strict=True)) >= 5
    assert all(g.score > 0.7 for g in good)


def test_degenerate_outputs_score_low(scorer: CaptionScorer) -> None:
    refs = ["Two green circles and one red square on a white background."]
    captions = ["Two green circles and a red square.", "", "circle " * 40, PROMPT, "green circles " * 50, None]
    scores = scorer.score(captions, [refs] * len(captions), [PROMPT] * len(captions))
    assert scores[0].score > 0.7
    assert all(s.score < 0.25 for s in scores[1:]), scores
    assert scores[1].flags == ("empty",) and scores[5].flags == ("empty",)
