"""Caption scoring: facts checked against the scene's truth; attackers first, then the goals of issue 10.

The adversarial captions a miner would try are built here from the same public code a miner reads: a fixed
caption that never looks at the image, the right sentence with every colour wrong, a list of every colour and
shape word, hedging, and over-long answers. The goals (docs/captions.md) are asserted on 200 seeded scenes.
"""

from __future__ import annotations

import random
import statistics

import pytest

from harness.tasks import build_family, caption_gen
from harness.tasks.config import TasksConfig
from scoring.caption import CaptionScorer, echoes_prompt, is_repetitive, is_word_list, penalties
from scoring.caption_facts import check, read_facts
from tests.support.caption_attacks import (
    ALL_WORDS,
    FIXED_CAPTIONS,
    N_GOAL_SCENES,
    PROMPT,
    WORD_LISTS,
    accurate_describe,
    hedge,
    score_all,
    with_colours_wrong,
)


@pytest.fixture(scope="module")
def goal_tasks() -> list[dict]:
    return caption_gen.generate(N_GOAL_SCENES, random.Random("caption-goals"), 96, PROMPT)


@pytest.fixture(scope="module")
def scorer() -> CaptionScorer:
    return CaptionScorer()


def test_goals_on_200_seeded_scenes(scorer: CaptionScorer, goal_tasks: list[dict]) -> None:
    """The issue's goals, as means over 200 scenes (the measured numbers are in docs/captions.md)."""
    accurate = accurate_describe(goal_tasks)
    rng = random.Random("wrong")
    wrong = [with_colours_wrong(c, t["truth"], rng) for c, t in zip(accurate, goal_tasks, strict=True)]
    assert sum(a != w for a, w in zip(accurate, wrong, strict=True)) == len(accurate)
    good = score_all(scorer, goal_tasks, accurate)
    bad = score_all(scorer, goal_tasks, wrong)
    assert statistics.mean(good) >= 0.8, statistics.mean(good)
    assert statistics.mean(bad) <= 0.4, statistics.mean(bad)
    assert all(g > b for g, b in zip(good, bad, strict=True))
    for fixed in FIXED_CAPTIONS:
        mean = statistics.mean(score_all(scorer, goal_tasks, [fixed] * len(goal_tasks)))
        assert mean <= 0.3, (fixed, mean)
    for listing in WORD_LISTS:
        mean = statistics.mean(score_all(scorer, goal_tasks, [listing] * len(goal_tasks)))
        assert mean <= 0.2, (listing, mean)
    hedged = score_all(scorer, goal_tasks, [hedge(t["truth"]) for t in goal_tasks])
    assert statistics.mean(hedged) <= 0.2


def test_score_does_not_depend_on_the_batch(scorer: CaptionScorer, goal_tasks: list[dict]) -> None:
    """A caption scored alone and scored among others (different lengths, so different padding) is bit-identical."""
    tasks = goal_tasks[:24]
    captions = accurate_describe(tasks)
    captions[3] = FIXED_CAPTIONS[0]
    captions[5] = ALL_WORDS
    fresh = CaptionScorer()  # no cache shared with the batch run
    together = scorer.score(
        captions, [t["references"] for t in tasks], [PROMPT] * len(tasks), truths=[t["truth"] for t in tasks]
    )
    for i in (0, 3, 5, 17):
        alone = fresh.score([captions[i]], [tasks[i]["references"]], [PROMPT], truths=[tasks[i]["truth"]])[0]
        assert alone == together[i]
    shuffled = list(range(len(tasks)))
    random.Random(1).shuffle(shuffled)
    again = fresh.score(
        [captions[i] for i in shuffled],
        [tasks[i]["references"] for i in shuffled],
        [PROMPT] * len(tasks),
        truths=[tasks[i]["truth"] for i in shuffled],
    )
    assert [again[shuffled.index(i)] for i in range(len(tasks))] == together


def test_long_captions_that_state_everything_lose(scorer: CaptionScorer, goal_tasks: list[dict]) -> None:
    """Stating every colour with every shape asserts the truth among dozens of falsehoods, at length."""
    everything = " ".join(f"There is a {c} {s}." for c in caption_gen.COLOURS for s in caption_gen.SHAPES)
    scores = score_all(scorer, goal_tasks[:40], [everything] * 40)
    assert max(scores) < 0.05


# ---------------------------------------------------------------------------------------------------- the reader

TRUTH = {
    "counts": {"red circle": 2, "blue star": 1, "green square": 3},
    "sizes": {"red circle": "small", "blue star": "large", "green square": "medium"},
    "relations": [
        {"subject": "red circle", "relation": "left of", "object": "blue star"},
        {"subject": "blue star", "relation": "left of", "object": "green square"},
    ],
    "background": "pale yellow",
    "texture": "striped",
    "text": "STOP",
    "objects": [],
}


def test_reader_finds_counts_colours_relations_background_and_text() -> None:
    facts = read_facts(
        "Two small red circles and one blue star on a striped pale yellow background; the star is to the left of "
        'the 3 green squares, which are right of the circles. The word "STOP" is printed below.',
        TRUTH,
    )
    read = {(m.count, m.size, m.colour, m.shape) for m in facts.mentions}
    assert {(2, "small", "red", "circle"), (1, None, "blue", "star"), (3, None, "green", "square")} <= read
    assert facts.backgrounds == {"yellow"} and facts.textures == {"striped"} and facts.texts == {"STOP"}
    assert ("blue star", "left of", "green square") in facts.relations
    assert ("red circle", "left of", "green square") in facts.relations  # "right of" read the other way round
    assert not facts.colours  # every colour word belongs to a shape or the background


def test_right_facts_earn_and_wrong_facts_cost() -> None:
    full = check(
        "Two red circles, a blue star and three green squares on a striped pale yellow background. The red "
        'circles are to the left of the blue star, which is left of the green squares. It says "STOP".',
        TRUTH,
    )
    assert full.precision == 1.0 and full.recall == 1.0 and full.content == 1.0, full
    partial = check("Two red circles.", TRUTH)
    assert partial.precision == 1.0 and 0 < partial.recall < 0.5
    one_wrong = check("Two red circles and a purple star.", TRUTH)
    assert one_wrong.content < partial.content and "entity:purple star" in one_wrong.errors
    wrong_count = check("Four red circles.", TRUTH)
    assert wrong_count.precision < 1.0 and wrong_count.content < partial.content
    # A relation the wrong way round, a wrong background, a made-up word: each is an error.
    backwards = check("The green square is left of the blue star.", TRUTH)
    assert "relation:green square left of blue star" in backwards.errors
    assert check("On a white background.", TRUTH).precision == 0.0
    assert check('The word "OPEN" is written.', TRUTH).errors == ("text:OPEN",)
    # Number words and digits are the same fact; the shape alone names its group (shapes are unique).
    assert check("3 green squares", TRUTH).correct == check("three green squares", TRUTH).correct
    assert check("three squares", TRUTH).precision == 1.0
    # Saying nothing checkable is worth nothing.
    assert check("A picture.", TRUTH).content == 0.0


@pytest.mark.parametrize(
    ("caption", "min_recall"),
    [
        (
            "Two red circles, a big blue star and three green squares against a yellow striped background, with STOP "
            "written underneath.",
            0.8,
        ),
        (
            "Red circles on the left, a blue star in the middle and green squares on the right; the word stop below.",
            0.5,
        ),
        ("The picture contains 2 red dots, one blue star and 3 green squares on a background with stripes.", 0.45),
        ("A blue star sits between two red circles and three green squares. It reads STOP.", 0.55),
        (
            "There are two circles that are red, one star in blue and three squares, all green, on a yellow "
            "striped background.",
            0.6,
        ),
    ],
)
def test_captions_in_other_styles_are_read_without_false_errors(caption: str, min_recall: float) -> None:
    """Wordings that describe() never writes: every fact read is true, and most of the truth is read."""
    result = check(caption, TRUTH)
    assert result.precision == 1.0 and result.recall >= min_recall, result


def test_transitive_relations_are_true() -> None:
    assert check("The red circles are to the left of the green squares.", TRUTH).precision == 1.0


# ---------------------------------------------------------------------------------------------------- penalties


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


def test_word_lists_are_penalised_but_sentences_are_not() -> None:
    for listing in WORD_LISTS:
        assert is_word_list(listing) and "word-list" in penalties(listing, PROMPT)[1]
    assert is_word_list("red green blue circle square star") and is_word_list("Circles, squares, stars.")
    assert not is_word_list("Red circle, blue star, green square and yellow hexagon.")  # terse, but bound
    for index, (_, truth) in enumerate(caption_gen.render_scene(random.Random(k), 96) for k in range(100)):
        caption = caption_gen.describe(truth, random.Random(index))
        assert not is_word_list(caption), caption


def test_tasks_without_a_truth_keep_reference_similarity(scorer: CaptionScorer) -> None:
    refs = ["Two green circles and one red square on a white background."]
    captions = ["Two green circles and a red square.", "", "circle " * 40, PROMPT, "green circles " * 50, None]
    scores = scorer.score(captions, [refs] * len(captions), [PROMPT] * len(captions), truths=[None] * len(captions))
    assert scores[0].score > 0.7 and scores[0].facts is None
    assert all(s.score < 0.25 for s in scores[1:]), scores
    assert scores[1].flags == ("empty",) and scores[5].flags == ("empty",)
    assert scorer.score(captions, [refs] * len(captions), [PROMPT] * len(captions)) == scores


def test_right_caption_beats_wrong_one_on_built_tasks(scorer: CaptionScorer) -> None:
    tasks = build_family("caption-test", "caption", 6, TasksConfig(image_size=96))["tasks"]
    right = [t["references"][0] for t in tasks]
    wrong = right[1:] + right[:1]  # each task gets another scene's caption
    truths = [t["truth"] for t in tasks]
    refs = [t["references"] for t in tasks]
    good = scorer.score(right, refs, [PROMPT] * 6, truths=truths)
    bad = scorer.score(wrong, refs, [PROMPT] * 6, truths=truths)
    assert all(g.score > b.score for g, b in zip(good, bad, strict=True))
    assert all(g.score > 0.8 for g in good)


def test_evaluation_scores_procedural_captions_against_their_truth(scorer: CaptionScorer) -> None:
    """score_each hands each task's truth to the scorer: the reference with its colours swapped, which reads
    like the reference, scores low; the same text on a task without a truth (JSONL) keeps its similarity."""
    from harness.evaluation.run_loop import TaskOutcome
    from harness.evaluation.task_scoring import score_each
    from scoring.config import ScoringConfig

    tasks = build_family("wiring", "caption", 2, TasksConfig(image_size=64))["tasks"]
    swapped = with_colours_wrong(tasks[0]["references"][0], tasks[0]["truth"], random.Random(0))
    no_truth = {k: v for k, v in tasks[0].items() if k != "truth"} | {"id": "jsonl-0"}
    answers = {tasks[0]["id"]: swapped, tasks[1]["id"]: tasks[1]["references"][0], "jsonl-0": swapped}
    outcomes = [TaskOutcome(task_id, content=text) for task_id, text in answers.items()]
    results = {r.id: r for r in score_each([*tasks, no_truth], outcomes, ScoringConfig(), {"caption": scorer})}
    assert results[tasks[0]["id"]].score < 0.2
    assert results[tasks[1]["id"]].score > 0.8
    assert results["jsonl-0"].score > 0.6
