"""Issue 25: the caption score is fair to honest captions in ordinary wording, and still worthless to blind ones.

The fairness set (`tests/support/caption_fairness.py`) writes accurate captions from each scene's truth in six
styles and two spellings, and the same captions with one fact wrong. The goals are asserted on a seed no other test uses
(FAIRNESS_SEED): accurate mean >= 0.9 and none below 0.75; one wrong fact costs >= 0.1; what
"describe this image in one short sentence" asks for (every group and the background) reaches >= 0.8; blind and
hedging captions stay <= 0.1. The reader's phrasings of the issue each get a case below.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter

import pytest

from harness.tasks import caption_gen
from scoring.caption import CaptionScorer
from scoring.caption_facts import check, read_facts
from tests.support.caption_attacks import FIXED_CAPTIONS, PROMPT, WORD_LISTS, hedge, score_all
from tests.support.caption_fairness import (
    FAIRNESS_SEED,
    HANDWRITTEN,
    HANDWRITTEN_SEED,
    Speller,
    fairness_tasks,
    natural_captions,
    one_sentence,
    searched_blind_caption,
    with_one_fact_wrong,
)


@pytest.fixture(scope="module")
def scorer() -> CaptionScorer:
    return CaptionScorer()


def test_accurate_captions_in_natural_wording_score_high(scorer: CaptionScorer) -> None:
    tasks = fairness_tasks()
    styled = natural_captions(tasks)
    styles = Counter(style for style, _ in styled)
    assert len(styles) == 6 and min(styles.values()) >= 10, styles
    captions = [caption for _, caption in styled]
    assert any("colour" in c or "grey" in c for c in captions) and any("color" in c or "gray" in c for c in captions)
    scores = score_all(scorer, tasks, captions)
    assert statistics.mean(scores) >= 0.9, statistics.mean(scores)
    worst = min(range(len(scores)), key=scores.__getitem__)
    assert scores[worst] >= 0.75, (scores[worst], captions[worst])


def test_one_wrong_fact_costs_at_least_a_tenth(scorer: CaptionScorer) -> None:
    tasks = fairness_tasks()
    accurate = [caption for _, caption in natural_captions(tasks)]
    pairs = [(i, with_one_fact_wrong(t["truth"], f"{FAIRNESS_SEED}-{i}")) for i, t in enumerate(tasks)]
    pairs = [(i, wrong) for i, wrong in pairs if wrong is not None]
    assert len(pairs) >= 100
    kinds = Counter(kind for _, (kind, _) in pairs)
    assert {"colour", "shape", "count", "background", "texture", "relation", "text"} <= set(kinds), kinds
    chosen = [tasks[i] for i, _ in pairs]
    good = score_all(scorer, chosen, [accurate[i] for i, _ in pairs])
    bad = score_all(scorer, chosen, [caption for _, (_, caption) in pairs])
    drops = [g - b for g, b in zip(good, bad, strict=True)]
    assert min(drops) > 0.05, min(drops)
    assert statistics.mean(drops) >= 0.2, statistics.mean(drops)
    assert sum(d >= 0.1 for d in drops) >= 0.95 * len(drops), sorted(drops)[:10]


def test_one_sentence_of_the_main_content_reaches_the_goal(scorer: CaptionScorer) -> None:
    """The prompt asks for one short sentence: every group with its count, colour and shape, and the background."""
    tasks = fairness_tasks()
    captions = [one_sentence(t["truth"], random.Random(f"one-{i}"), Speller(i % 2 == 0)) for i, t in enumerate(tasks)]
    scores = score_all(scorer, tasks, captions)
    assert statistics.mean(scores) >= 0.8, statistics.mean(scores)


def test_blind_and_hedging_captions_stay_low(scorer: CaptionScorer) -> None:
    tasks = fairness_tasks()
    words = " ".join(caption_gen.WORDS)
    accurate = [caption for _, caption in natural_captions(tasks)]
    strategies = {
        **{f"fixed: {c}": [c] * len(tasks) for c in FIXED_CAPTIONS},
        **{f"word list: {c[:30]}": [c] * len(tasks) for c in WORD_LISTS},
        "hedge over colours": [hedge(t["truth"]) for t in tasks],
        "searched blind": [searched_blind_caption()] * len(tasks),
        "every word, lower case after a cue": [f"Some shapes; the text says {words.lower()}."] * len(tasks),
        "every word, quoted": ["Some shapes and the word " + " or ".join(f'"{w}"' for w in caption_gen.WORDS)]
        * len(tasks),
        "another scene's accurate caption": [*accurate[1:], accurate[0]],
    }
    for name, captions in strategies.items():
        mean = statistics.mean(score_all(scorer, tasks, captions))
        assert mean <= 0.1, (name, mean)


def test_handwritten_captions_score_high(scorer: CaptionScorer) -> None:
    """Twenty captions written by hand from the truths (the file says how); their scores are in docs/captions.md."""
    lines = [line for line in HANDWRITTEN.read_text().splitlines() if line and not line.startswith("#")]
    rng = random.Random(HANDWRITTEN_SEED)
    truths = [caption_gen.render_scene(rng, 96)[1] for _ in lines]
    references = [
        [caption_gen.describe(t, random.Random(f"ref-{i}-{k}")) for k in range(4)] for i, t in enumerate(truths)
    ]
    scores = [r.score for r in scorer.score(lines, references, [PROMPT] * len(lines), truths=truths)]
    assert len(lines) == 20
    assert statistics.mean(scores) >= 0.9 and min(scores) >= 0.75, scores
    assert all(check(line, truth).errors == () for line, truth in zip(lines, truths, strict=True))


# ---------------------------------------------------------------------------------------------------- phrasings

ROW = {
    "counts": {"red circle": 2, "blue star": 1, "green square": 3, "yellow hexagon": 1},
    "sizes": {"red circle": "small", "blue star": "large", "green square": "medium", "yellow hexagon": "small"},
    "relations": [
        {"subject": "red circle", "relation": "left of", "object": "blue star"},
        {"subject": "blue star", "relation": "left of", "object": "green square"},
        {"subject": "yellow hexagon", "relation": "overlapping", "object": "blue star"},
    ],
    "layout": "row",
    "background": "pale blue",
    "texture": "dotted",
    "text": "STOP",
    "objects": [],
}
COLUMN = {
    "counts": {"purple triangle": 2, "orange square": 1, "black cross": 1},
    "sizes": {"purple triangle": "small", "orange square": "large", "black cross": "small"},
    "relations": [
        {"subject": "purple triangle", "relation": "above", "object": "orange square"},
        {"subject": "black cross", "relation": "inside", "object": "orange square"},
    ],
    "layout": "column",
    "background": "white",
    "texture": "striped",
    "text": None,
    "objects": [],
}
LEFT = ("red circle", "left of", "blue star")
ABOVE = ("purple triangle", "above", "orange square")


@pytest.mark.parametrize(
    ("caption", "truth", "relation"),
    [
        ("From left to right: two red circles, a blue star and three green squares.", ROW, LEFT),
        ("Two red circles, a blue star and three green squares, left to right.", ROW, LEFT),
        (
            "Two red circles on the left and three green squares on the right.",
            ROW,
            ("red circle", "left of", "green square"),
        ),
        ("On the left, two red circles; in the middle, a blue star.", ROW, LEFT),
        ("Two red circles. To their right is a blue star.", ROW, LEFT),
        ("Two purple triangles; beneath them is an orange square.", COLUMN, ABOVE),
        ("An orange square sits beneath two purple triangles.", COLUMN, ABOVE),
        ("Two purple triangles at the top and an orange square at the bottom.", COLUMN, ABOVE),
        ("Top to bottom: two purple triangles and an orange square.", COLUMN, ABOVE),
        ("An orange square with a black cross in its centre.", COLUMN, ("black cross", "inside", "orange square")),
        ("A black cross in the center of the orange square.", COLUMN, ("black cross", "inside", "orange square")),
        ("A big orange square with a small black cross inside.", COLUMN, ("black cross", "inside", "orange square")),
        ("The blue star overlaps the yellow hexagon.", ROW, ("blue star", "overlapping", "yellow hexagon")),
        ("The yellow hexagon overlaps the blue star.", ROW, ("blue star", "overlapping", "yellow hexagon")),
        ("A blue star and a yellow hexagon overlap.", ROW, ("blue star", "overlapping", "yellow hexagon")),
    ],
)
def test_relations_in_ordinary_phrasings_are_read_and_true(caption: str, truth: dict, relation: tuple) -> None:
    facts = read_facts(caption, truth)
    assert relation in facts.relations, facts.relations
    result = check(caption, truth)
    assert result.errors == () and f"relation:{' '.join(relation)}" not in result.misses, result


def test_overlap_in_either_order_earns_the_same_recall() -> None:
    one = check("A yellow hexagon overlaps the blue star.", ROW)
    other = check("The blue star overlaps a yellow hexagon.", ROW)
    assert one.recall == other.recall > 0 and one.precision == other.precision == 1.0


@pytest.mark.parametrize(
    ("caption", "count"),
    [
        ("a pair of red circles", 2),
        ("a couple of red circles", 2),
        ("two red circles", 2),
        ("2 red circles", 2),
        ("a dozen red circles", 12),
        ("three red circles", 3),
    ],
)
def test_number_phrases(caption: str, count: int) -> None:
    (mention,) = read_facts(caption, ROW).mentions
    assert (mention.count, mention.colour, mention.shape) == (count, "red", "circle")


@pytest.mark.parametrize(
    "caption",
    [
        "Two red circles on a pale blue background with small white dots.",
        "Two red circles on a pale blue background that is covered in little dots.",
        "Two red circles against a light blue polka dot backdrop.",
        "Two red circles on a dotted, pale blue background.",
        "Two red circles. The background is light blue, with a pattern of darker dots.",
    ],
)
def test_textures_anywhere_in_the_background_phrase_and_pattern_colours_assert_nothing(caption: str) -> None:
    result = check(caption, ROW)
    facts = read_facts(caption, ROW)
    assert facts.textures == {"dotted"} and facts.backgrounds == {"blue"}, facts
    assert result.errors == (), result.errors  # "white dots" is not a white shape


def test_pattern_nouns_are_not_shapes_and_counted_dots_are_not_a_texture() -> None:
    facts = read_facts("A checkerboard of grey squares behind two red circles.", ROW)
    assert [m.shape for m in facts.mentions] == ["circle"] and facts.textures == {"checkered"}
    facts = read_facts("Three red dots on a pale blue background.", ROW)
    assert not facts.mentions and not facts.textures


@pytest.mark.parametrize(
    ("caption", "shapes"),
    [
        ("Two red circles plus a blue star.", ["circle", "star"]),
        ("A red plus sign and a blue star.", ["cross", "star"]),
        ("Two black pluses.", ["cross"]),
        ("The star of the picture is a red circle.", ["circle"]),
        ("Three red circles arranged in a circle.", ["circle"]),
        ("A blue star on a background with a diamond pattern.", ["star"]),
    ],
)
def test_shape_words_count_only_when_they_name_a_shape(caption: str, shapes: list[str]) -> None:
    assert [m.shape for m in read_facts(caption, ROW).mentions] == shapes


@pytest.mark.parametrize(
    ("caption", "right"),
    [
        ('The word "STOP" is printed below.', True),
        ("It says stop at the bottom.", True),
        ("The text reads OPEN.", False),
        ("With text at the bottom.", None),  # no word named: nothing asserted
        ("The text says stop, open or zoo.", False),  # a list of candidates is one wrong claim
        ('The word "STOP" or "OPEN".', False),
    ],
)
def test_a_text_claim_names_one_word(caption: str, right: bool | None) -> None:
    result = check(caption, ROW)
    text_errors = [e for e in result.errors if e.startswith("text:")]
    if right is None:
        assert not read_facts(caption, ROW).texts and not text_errors
    elif right:
        assert "text" not in result.misses and not text_errors
    else:
        assert len(text_errors) == 1 and "text" in result.misses


def test_recall_weighs_the_main_content_first() -> None:
    """Groups and background are CORE_SHARE of recall; relations, texture and text share the rest."""
    main = check("Two red circles, a blue star with a yellow hexagon, three green squares, pale blue background.", ROW)
    assert main.precision == 1.0 and main.recall == pytest.approx(0.85)
    everything = check(
        "From left to right: two red circles, a blue star overlapped by a yellow hexagon, and three green squares, "
        'on a dotted pale blue background. The word "STOP" is printed below.',
        ROW,
    )
    assert everything.recall == 1.0 and everything.precision == 1.0, everything
    no_details = {**ROW, "relations": [], "texture": "plain", "text": None}
    assert (
        check("Two red circles, a blue star, a yellow hexagon and three green squares on pale blue.", no_details).recall
        == 1.0
    )
