"""Print the caption adversary and fairness tables of docs/captions.md.

Run `.venv/bin/python -m tests.support.caption_table`.
The same captions the tests build (test_caption_scoring: attackers on the 200 `caption-goals` scenes;
test_caption_fairness: the natural-wording set on its own seed), scored by the shipped scorer, as markdown rows of
mean (min-max). A few minutes on a busy 2-core machine (the embedding model scores a few thousand texts).
"""

from __future__ import annotations

import random
import statistics

from harness.tasks import caption_gen
from scoring.caption import CaptionScorer
from tests.support import caption_attacks as attacks
from tests.support import caption_fairness as fairness
from tests.support.caption_fairness import Speller, one_sentence, with_one_fact_wrong


def _row(name: str, scores: list[float]) -> str:
    return f"| {name} | {statistics.mean(scores):.3f} ({min(scores):.3f}–{max(scores):.3f}) |"


def adversary_rows(scorer: CaptionScorer) -> list[str]:
    tasks = caption_gen.generate(attacks.N_GOAL_SCENES, random.Random("caption-goals"), 96, attacks.PROMPT)
    n = len(tasks)
    accurate = attacks.accurate_describe(tasks)
    rng = random.Random("wrong")
    words = " ".join(caption_gen.WORDS)
    rows = {
        "accurate, `describe` seeded apart from the references": accurate,
        "one sentence: every group and the background (what the prompt asks)": [
            one_sentence(t["truth"], random.Random(f"one-{i}"), Speller(i % 2 == 0)) for i, t in enumerate(tasks)
        ],
        "the accurate caption with every colour wrong": [
            attacks.with_colours_wrong(c, t["truth"], rng) for c, t in zip(accurate, tasks, strict=True)
        ],
        **{f"fixed {c!r}": [c] * n for c in attacks.FIXED_CAPTIONS},
        **{f"word list {c[:40]!r}…": [c] * n for c in attacks.WORD_LISTS},
        "hedge: the right shape in all ten colours": [attacks.hedge(t["truth"]) for t in tasks],
        f"searched blind: {fairness.searched_blind_caption()!r}": [fairness.searched_blind_caption()] * n,
        "every printed word after a cue, lower case": [f"Some shapes; the text says {words.lower()}."] * n,
        "every printed word, quoted": ["Some shapes and the word " + " or ".join(f'"{w}"' for w in caption_gen.WORDS)]
        * n,
        "another scene's accurate caption": accurate[1:] + accurate[:1],
    }
    return [_row(name, attacks.score_all(scorer, tasks, captions)) for name, captions in rows.items()]


def fairness_rows(scorer: CaptionScorer) -> list[str]:
    tasks = fairness.fairness_tasks()
    styled = fairness.natural_captions(tasks)
    scores = attacks.score_all(scorer, tasks, [c for _, c in styled])
    out = [_row(f"all {len(scores)} accurate natural captions", scores)]
    for style in sorted({s for s, _ in styled}):
        out.append(
            _row(
                f"style {style} ({sum(s == style for s, _ in styled)})",
                [x for (s, _), x in zip(styled, scores, strict=True) if s == style],
            )
        )
    pairs = [(i, with_one_fact_wrong(t["truth"], f"{fairness.FAIRNESS_SEED}-{i}")) for i, t in enumerate(tasks)]
    pairs = [(i, w) for i, w in pairs if w is not None]
    wrong = attacks.score_all(scorer, [tasks[i] for i, _ in pairs], [w[1] for _, w in pairs])
    drops = [scores[i] - x for (i, _), x in zip(pairs, wrong, strict=True)]
    out.append(_row(f"cost of one wrong fact ({len(drops)} pairs)", drops))
    for kind in sorted({w[0] for _, w in pairs}):
        out.append(_row(f"cost, {kind} wrong", [d for (_, w), d in zip(pairs, drops, strict=True) if w[0] == kind]))
    return out


if __name__ == "__main__":
    shared = CaptionScorer()
    print("\n".join(adversary_rows(shared)))
    print()
    print("\n".join(fairness_rows(shared)))
