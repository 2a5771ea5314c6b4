"""A BFCL lookup miner: answers a perturbed BFCL task from the public data, with no language understanding.

Issue 20's attack, written from the public code and data, as strong as we could make it, so that the perturbation
is measured against what a miner who memorised BFCL (and read `harness/tasks/bfcl_*.py`) can do:

1. find the source entry: TF-IDF over the conversation's words, identifiers and numbers masked, every word folded
   to a synonym class built from the perturbation's own vocabularies (`naming.SYNONYMS` and any rewrite table of
   `harness.tasks`), re-ranked by how well the source's functions match the offered ones;
2. find each answered function among the offered ones by its description words, name words (synonym classes)
   and parameter count and types, never by position;
3. map each answered parameter by name words, description words, type, enum and position;
4. recover each stated value by diffing the source conversation against the task's (token alignment): a value the
   source states is read from the aligned span of the task text (numbers, strings, dates, enums), an enum value
   re-mapped to the schema's enum by its words; a value the source does not state is copied from the key.

`lookup_answer(task) -> answer text` has the shape of the strategies in tests/support/adversaries.py, and
`scoreboard` measures it through the validator's own scoring path.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import json
import math
import re
from collections import Counter, defaultdict
from typing import Any

from harness.tasks import bfcl
from harness.tasks.config import DEFAULT_BFCL_CATEGORIES
from harness.tasks.naming import SYNONYMS, words_of
from harness.tasks.prompts import TOOLCALL_SYSTEM_PROMPT
from tests.support.bfcl_support import bfcl_data_dir

_WORD = re.compile(r"[A-Za-z]+")
_IDENT = re.compile(r"\b\w*(?:_|\.\w)\w*\b|\b[a-z]+[A-Z]\w*\b")
_TOKEN = re.compile(r"\d+(?:[.,:/]\d+)*|[A-Za-z]+|[^\sA-Za-z\d]")
_NON_LATIN = re.compile(r"[^\x00-\x7f\s\d.,?!:;'\"()\[\]]+")
_STOP = frozenset((
    "a", "an", "the", "of", "to", "in", "for", "and", "or", "is", "are", "be", "on", "at", "by", "with", "from",
    "as", "it", "this", "that", "what", "my", "me", "i",
))  # fmt: skip


def _synonym_tables() -> list[dict[str, tuple[str, ...]]]:
    """Every word-rewrite table the perturbation code exposes (the attacker reads the code too)."""
    tables: list[dict[str, tuple[str, ...]]] = [SYNONYMS]
    try:  # a question/description rewrite table, when the perturbation has one
        from harness.tasks import bfcl_rewrite  # type: ignore[attr-defined]

        tables += [t for t in vars(bfcl_rewrite).values() if isinstance(t, dict) and t and _is_table(t)]
    except ImportError:
        pass
    return tables


def _is_table(table: dict) -> bool:
    return all(isinstance(k, str) and isinstance(v, tuple | list) for k, v in table.items())


@functools.cache
def _classes() -> dict[str, str]:
    """word -> the smallest word of its synonym class (union of every table's groups)."""
    parent: dict[str, str] = {}

    def find(word: str) -> str:
        parent.setdefault(word, word)
        while parent[word] != word:
            parent[word] = parent[parent[word]]
            word = parent[word]
        return word

    for table in _synonym_tables():
        for key, options in table.items():
            for option in options:
                for a in words_of(key)[:1] or [key.lower()]:
                    for b in [w for part in str(option).split() for w in words_of(part)][:1]:
                        ra, rb = find(a.lower()), find(b.lower())
                        if ra != rb:
                            parent[max(ra, rb)] = min(ra, rb)
    return {word: find(word) for word in parent}


def canon(word: str) -> str:
    word = word.lower()
    return _classes().get(word, word)


def _text(conversation: list[dict]) -> str:
    return "\n".join(m["content"] for m in conversation if isinstance(m.get("content"), str))


def _masked_words(text: str) -> list[str]:
    text = _IDENT.sub(" ", text)
    words = [canon(w) for w in _WORD.findall(text) if w.lower() not in _STOP]
    for run in _NON_LATIN.findall(text):  # Chinese, Korean, Thai...: character pairs stand for words
        words += [run[i : i + 2] for i in range(max(1, len(run) - 1))]
    return words


def _shape(text: str) -> list[str]:
    """The text's token sequence with numbers masked: what re-ranks near-identical candidates."""
    return ["#" if t[:1].isdigit() else canon(t) for t in _TOKEN.findall(_IDENT.sub(" ", text))]


def _function_words(function: dict) -> Counter[str]:
    """Name words, description words and parameter name words, each folded to its synonym class."""
    words = Counter(canon(w) for w in words_of(str(function.get("name", ""))))
    words.update(_masked_words(str(function.get("description", ""))))
    props = (function.get("parameters") or {}).get("properties") or {}
    words.update(canon(w) for p in props for w in words_of(p))
    return words


@functools.cache
def _index() -> tuple[list[dict], dict[str, list[tuple[int, float]]], list[float]]:
    """(entries, postings word -> [(entry, weight)], norms) over every sampled BFCL entry."""
    data = bfcl_data_dir()
    entries = [e for c in sorted(DEFAULT_BFCL_CATEGORIES) for e in bfcl.sampled_entries(data, c)]
    docs = [Counter(_masked_words(_text(e["conversation"]))) for e in entries]
    df = Counter(w for d in docs for w in d)
    idf = {w: math.log((1 + len(docs)) / (1 + n)) + 1 for w, n in df.items()}
    postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
    norms = []
    for i, doc in enumerate(docs):
        weights = {w: (1 + math.log(c)) * idf[w] for w, c in doc.items()}
        norms.append(math.sqrt(sum(v * v for v in weights.values())) or 1.0)
        for w, v in weights.items():
            postings[w].append((i, v))
    return entries, dict(postings), norms


def _idf(word: str) -> float:
    entries, postings, _ = _index()
    return math.log((1 + len(entries)) / (1 + len(postings.get(word, ())))) + 1


def _candidates(text: str, k: int = 8) -> list[tuple[float, dict]]:
    entries, postings, norms = _index()
    query = Counter(_masked_words(text))
    weights = {w: (1 + math.log(c)) * _idf(w) for w, c in query.items()}
    qnorm = math.sqrt(sum(v * v for v in weights.values())) or 1.0
    scores: dict[int, float] = defaultdict(float)
    for w, v in weights.items():
        for i, dv in postings.get(w, ()):
            scores[i] += v * dv
    best = sorted(scores.items(), key=lambda item: -item[1])[:k]
    return [(s / (qnorm * norms[i]), entries[i]) for i, s in best]


def _overlap(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    shared = sum(min(a[w], b[w]) * _idf(w) for w in a.keys() & b.keys())
    total = sum(v * _idf(w) for w, v in (a | b).items())
    return shared / total if total else 0.0


def _type_signature(function: dict) -> list[str]:
    props = (function.get("parameters") or {}).get("properties") or {}
    return sorted(str(spec.get("type")) for spec in props.values() if isinstance(spec, dict))


def _function_similarity(source: dict, offered: dict) -> float:
    score = _overlap(_function_words(source), _function_words(offered))
    if _type_signature(source) == _type_signature(offered):
        score += 0.5
    return score


def _match_functions(source_functions: list[dict], offered: list[dict]) -> tuple[dict[str, dict], float]:
    """Source function name -> offered function, greedily by similarity; and the mean similarity."""
    pairs = sorted(
        ((_function_similarity(s, o), i, j) for i, s in enumerate(source_functions) for j, o in enumerate(offered)),
        reverse=True,
    )
    used_s: set[int] = set()
    used_o: set[int] = set()
    out: dict[str, dict] = {}
    total = 0.0
    for score, i, j in pairs:
        if i in used_s or j in used_o:
            continue
        used_s.add(i)
        used_o.add(j)
        out[source_functions[i]["name"]] = offered[j]
        total += score
    return out, total / max(1, len(source_functions))


def _param_words(name: str, spec: dict) -> Counter[str]:
    words = Counter(canon(w) for w in words_of(name))
    words.update(_masked_words(str(spec.get("description", ""))))
    return words


def _match_params(source: dict, offered: dict) -> dict[str, str]:
    sprops = (source.get("parameters") or {}).get("properties") or {}
    oprops = (offered.get("parameters") or {}).get("properties") or {}
    scored = []
    for i, (p, ps) in enumerate(sprops.items()):
        for j, (q, qs) in enumerate(oprops.items()):
            ps, qs = ps if isinstance(ps, dict) else {}, qs if isinstance(qs, dict) else {}
            score = _overlap(_param_words(p, ps), _param_words(q, qs))
            score += 0.5 * (ps.get("type") == qs.get("type"))
            score += 0.5 * (
                bool(ps.get("enum")) and sorted(map(str, ps.get("enum", []))) == sorted(map(str, qs.get("enum", [])))
            )
            score += 0.05 * (i == j)
            scored.append((score, i, j, p, q))
    used_p: set[str] = set()
    used_q: set[str] = set()
    out: dict[str, str] = {}
    for _score, _i, _j, p, q in sorted(scored, key=lambda s: (-s[0], s[1], s[2])):
        if p not in used_p and q not in used_q:
            out[p] = q
            used_p.add(p)
            used_q.add(q)
    return out


class _Alignment:
    """Token alignment of the source conversation with the task's: where each source span went."""

    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new
        self.old_tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(old)]
        self.new_tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(new)]
        a = [canon(old[s:e]) for s, e in self.old_tokens]
        b = [canon(new[s:e]) for s, e in self.new_tokens]
        self.opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()

    def _token_range(self, start: int, end: int) -> tuple[int, int] | None:
        inside = [i for i, (s, e) in enumerate(self.old_tokens) if s >= start and e <= end]
        return (inside[0], inside[-1] + 1) if inside else None

    def moved(self, start: int, end: int) -> str | None:
        """The task text that replaced old[start:end]: itself when unchanged, None when it cannot tell. Blocks
        wholly inside the value, and insertions at its edges, belong to it (a new value may have more words);
        a block that also covers text beyond the value is cut at the same distance from its nearer edge."""
        span = self._token_range(start, end)
        if span is None:
            return None
        lo, hi = span
        picked: list[int] = []
        for tag, i1, i2, j1, j2 in self.opcodes:
            if tag == "equal":
                a, b = max(i1, lo), min(i2, hi)
                if a < b:
                    picked += [j1 + (a - i1), j1 + (b - i1)]
            elif i1 == i2:
                if lo <= i1 <= hi and j2 > j1:
                    picked += [j1, j2]
            elif i1 < hi and i2 > lo:
                if lo <= i1 and i2 <= hi:
                    picked += [j1, j2]
                else:
                    edges = (_edge(max(lo, i1), i1, i2, j1, j2, True), _edge(min(hi, i2), i1, i2, j1, j2, False))
                    picked += [min(max(e, j1), j2) for e in edges]
        if not picked:
            return None
        new_lo, new_hi = min(picked), max(picked)
        if new_hi <= new_lo:
            return None
        return self.new[self.new_tokens[new_lo][0] : self.new_tokens[new_hi - 1][1]]


def _edge(index: int, i1: int, i2: int, j1: int, j2: int, start: bool) -> int:
    """Where a source token boundary inside a replaced block falls in the new block: the same distance from the
    block's nearer edge (a replaced value is usually the whole block, or the block minus a few equal words)."""
    if start:
        return j1 + (index - i1) if index - i1 <= (i2 - index) else max(j1, j2 - (i2 - index))
    return j2 - (i2 - index) if i2 - index <= (index - i1) else min(j2, j1 + (index - i1))


def _find(text: str, literal: str) -> tuple[int, int] | None:
    if not literal:
        return None
    match = re.search(rf"(?<![\w.]){re.escape(literal)}(?![\w]|\.\d)", text, re.IGNORECASE)
    if match is None and not literal[:1].isalnum():
        match = re.search(re.escape(literal), text, re.IGNORECASE)
    return (match.start(), match.end()) if match else None


def _spellings(value: Any) -> list[str]:
    if isinstance(value, bool):
        return []
    if isinstance(value, float) and value.is_integer():
        return [str(int(value)), str(value)]
    if isinstance(value, int | float):
        return [str(value)]
    return [value] if isinstance(value, str) else []


def _as_type(text: str, like: Any, spec: dict) -> Any:
    kind = spec.get("type")
    if isinstance(like, bool):
        return like
    if isinstance(like, int | float):
        number = re.sub(r"[^\d.\-]", "", text)
        try:
            value = float(number)
        except ValueError:
            return like
        if kind == "integer" or (isinstance(like, int) and kind not in ("float", "number")):
            return int(value) if value.is_integer() else value
        return value
    enum = spec.get("enum")
    if isinstance(enum, list) and enum and text not in enum:
        folded = {_fold(str(e)): e for e in enum}
        if _fold(text) in folded:
            return folded[_fold(text)]
    return text


def _fold(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def _map_value(value: Any, alignment: _Alignment, spec: dict, pairs: list[tuple[str, str]]) -> Any:
    if isinstance(value, list):
        item_spec = spec.get("items") if isinstance(spec.get("items"), dict) else {}
        return [_map_value(v, alignment, item_spec, pairs) for v in value]
    if isinstance(value, dict):
        props = spec.get("properties") if isinstance(spec.get("properties"), dict) else {}
        return {k: _map_value(v, alignment, props.get(k, {}), pairs) for k, v in value.items()}
    for literal in _spellings(value):
        where = _find(alignment.old, literal)
        if where is not None:
            moved = alignment.moved(*where)
            if moved is not None:
                return _as_type(moved, value, spec)
    if isinstance(value, str) and (dated := _map_date(value, alignment)) is not None:
        return dated
    if isinstance(value, str):  # not stated whole: rewrite the stated parts that changed
        out = value
        for old, new in pairs:
            if len(old) > 2 and _find(out, old) is not None:
                out = re.sub(rf"(?<![\w]){re.escape(old)}(?![\w])", new, out, flags=re.IGNORECASE)
        return _as_type(out, value, spec)
    return value


_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y", "%Y/%m/%d", "%d/%m/%Y", "%b.%d,%Y", "%b %d, %Y", "%B %d, %Y")
_TEXT_DATE_FORMATS = (
    *_DATE_FORMATS,
    "%B %d %Y",
    "%d %B %Y",
    "%B %dth, %Y",
    "%B %dst, %Y",
    "%B %dnd, %Y",
    "%B %drd, %Y",
)


def _parse_date(text: str, formats: tuple[str, ...]) -> tuple[dt.date, str] | None:
    text = re.sub(r"\s+", " ", text.strip())
    for fmt in formats:
        try:
            return dt.datetime.strptime(text, fmt).date(), fmt
        except ValueError:
            continue
    return None


def _date_forms(day: dt.date) -> list[str]:
    forms = {day.strftime(f) for f in _TEXT_DATE_FORMATS if "%d" in f}
    forms |= {f"{day:%B} {day.day}, {day.year}", f"{day:%B} {day.day} {day.year}", f"{day.day} {day:%B} {day.year}"}
    forms |= {f"{day:%b} {day.day}, {day.year}", f"{day:%B} {day.day}"}
    return sorted(forms, key=len, reverse=True)


def _map_date(value: str, alignment: _Alignment) -> str | None:
    """A key date the source states in some other form: find that form, follow it, and write the new date the
    key's way."""
    parsed = _parse_date(value, _DATE_FORMATS)
    if parsed is None:
        return None
    day, key_format = parsed
    for form in _date_forms(day):
        where = _find(alignment.old, form)
        if where is None:
            continue
        moved = alignment.moved(*where)
        if moved is None:
            return None
        cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", moved)
        new = _parse_date(cleaned, (*_TEXT_DATE_FORMATS, "%B %d, %Y", "%b %d, %Y"))
        if new is None and "%Y" not in form:
            new = _parse_date(f"{cleaned} {day.year}", ("%B %d %Y", "%b %d %Y"))
        return new[0].strftime(key_format) if new else None
    return None


def _changed_pairs(alignment: _Alignment) -> list[tuple[str, str]]:
    out = []
    for tag, i1, i2, j1, j2 in alignment.opcodes:
        if tag == "replace":
            old = alignment.old[alignment.old_tokens[i1][0] : alignment.old_tokens[i2 - 1][1]]
            new = alignment.new[alignment.new_tokens[j1][0] : alignment.new_tokens[j2 - 1][1]]
            out.append((old, new))
    return sorted(out, key=lambda p: -len(p[0]))


def _choose(alternatives: list, old_text: str) -> tuple[bool, Any]:
    """(keep, value): the alternative the source states, else the first; optional-only ones are left out."""
    real = [a for a in alternatives if a != ""]
    if not real:
        return False, None
    for alt in real:
        if any(_find(old_text, s) for s in _spellings(alt)):
            return True, alt
    return True, real[0]


def _concrete(value: Any) -> Any:
    """A nested ground-truth dict `{key: [alternatives]}` made concrete (first alternative, optional left out)."""
    if isinstance(value, dict) and all(isinstance(v, list) for v in value.values()):
        return {k: _concrete(v[0]) for k, v in value.items() if v and v[0] != ""}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [_concrete(v) for v in value]
    return value


def lookup_calls(task: dict, params_by: str = "words", values_by: str = "diff") -> list[dict] | None:
    """The calls the lookup answers, or None when it finds no source entry (or the source is irrelevance).

    `params_by`: "words" (name words, description words, type, enum) or "position" (the i-th source parameter is
    the i-th offered one). `values_by`: "diff" (every stated value read from the token diff of the two questions)
    or "numbers" (numbers by the order of the number literals, every other value copied from the key)."""
    text = _text([m for m in task["messages"] if not str(m.get("content", "")).startswith(TOOLCALL_SYSTEM_PROMPT)])
    offered = task["functions"]
    best: tuple[float, dict, dict[str, dict]] | None = None
    shape = _shape(text)
    for score, entry in _candidates(text):
        old = _text(entry["conversation"])
        score += difflib.SequenceMatcher(None, shape, _shape(old), autojunk=False).ratio()
        score += 0.2 * difflib.SequenceMatcher(None, _TOKEN.findall(text), _TOKEN.findall(old), autojunk=False).ratio()
        mapping, fscore = _match_functions(entry["functions"], offered)  # irrelevance entries have docs too
        total = score + 2 * fscore
        if best is None or total > best[0]:
            best = (total, entry, mapping)
    if best is None or "irrelevance" in best[1]["category"]:
        return None
    _, entry, mapping = best
    old_text = _text(entry["conversation"])
    alignment = _Alignment(old_text, _in_source_order(old_text, text))
    pairs = _changed_pairs(alignment)
    numbers = _number_map(old_text, text)
    by_name = {f["name"]: f for f in entry["functions"]}
    calls = []
    for answer in entry["answer"]:
        ((name, args),) = answer.items()
        target = mapping.get(name)
        if target is None:
            continue
        params = _match_params(by_name[name], target) if params_by == "words" else _by_position(by_name[name], target)
        props = (target.get("parameters") or {}).get("properties") or {}
        out = {}
        for param, alternatives in args.items():
            keep, value = _choose(alternatives, old_text)
            if not keep or param not in params:
                continue
            new_param = params[param]
            spec = props.get(new_param, {})
            if values_by == "diff":
                out[new_param] = _map_value(_concrete(value), alignment, spec, pairs)
            else:
                out[new_param] = _map_numbers(_concrete(value), numbers)
        calls.append({"name": target["name"], "arguments": out})
    return calls


_SENTENCE = re.compile(r"(?<=[.?!])\s+(?=[A-Z])")


def _in_source_order(old: str, new: str) -> str:
    """The task text with its sentences put back in the source's order (each new sentence to the old one it is
    most like), so that a reordered question still aligns token by token."""
    old_sentences, new_sentences = _SENTENCE.split(old.strip()), _SENTENCE.split(new.strip())
    if len(old_sentences) < 2 or len(old_sentences) != len(new_sentences):
        return new
    pairs = sorted(
        (
            (-difflib.SequenceMatcher(None, _shape(a), _shape(b), autojunk=False).ratio(), i, j)
            for i, a in enumerate(old_sentences)
            for j, b in enumerate(new_sentences)
        )
    )
    placed: dict[int, int] = {}
    for _score, i, j in pairs:
        if i not in placed and j not in placed.values():
            placed[i] = j
    return " ".join(new_sentences[placed[i]] for i in range(len(old_sentences)))


def _by_position(source: dict, offered: dict) -> dict[str, str]:
    sprops = (source.get("parameters") or {}).get("properties") or {}
    oprops = (offered.get("parameters") or {}).get("properties") or {}
    return dict(zip(sprops, oprops, strict=False))


_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w]|\.\d)")


def _number_map(old: str, new: str) -> dict[float, float]:
    """The k-th number literal of the source question -> the k-th of the task's (when both have as many)."""
    a, b = _NUMBER.findall(old), _NUMBER.findall(new)
    if len(a) != len(b):
        return {}
    return {float(x): float(y) for x, y in zip(a, b, strict=True)}


def _map_numbers(value: Any, numbers: dict[float, float]) -> Any:
    if isinstance(value, list):
        return [_map_numbers(v, numbers) for v in value]
    if isinstance(value, bool) or not isinstance(value, int | float) or float(value) not in numbers:
        return value
    new = numbers[float(value)]
    return int(new) if isinstance(value, int) and new.is_integer() else new


def lookup_answer(task: dict, params_by: str = "words", values_by: str = "diff") -> str:
    """The answer text of the lookup miner (BFCL-derived tasks; anything else is refused). The default is the
    strongest version."""
    if not str(task.get("source", "")).startswith("bfcl:"):
        return "[]"
    calls = lookup_calls(task, params_by, values_by)
    return json.dumps(calls) if calls else "[]"


def described_lookup_answer(task: dict) -> str:
    """Issue 20's lookup as described there: parameters by position, numbers by literal order, the rest copied."""
    return lookup_answer(task, params_by="position", values_by="numbers")


def memorised_values_lookup_answer(task: dict) -> str:
    """Parameters found by their words and types, values as the described lookup (numbers by literal order, the
    rest copied from the key): what value re-sampling alone stops."""
    return lookup_answer(task, params_by="words", values_by="numbers")


STRATEGIES = {
    "lookup_diff": lookup_answer,
    "lookup_memorised_values": memorised_values_lookup_answer,
    "lookup_described": described_lookup_answer,
}


def scoreboard(tasks: list[dict], strategy: Any = lookup_answer) -> dict[str, dict[str, float]]:
    """{mode: {"all": mean, "<category>": mean}} of a strategy on `tasks`, strict and partial, through the
    validator's scoring path (each answer computed once)."""
    from harness.evaluation.run_loop import outcome_from_response
    from harness.evaluation.task_scoring import score_each
    from scoring.config import ScoringConfig

    tasks = [{**t, "id": f"t{i:05d}"} for i, t in enumerate(tasks)]
    outcomes = [outcome_from_response(t["id"], {"choices": [{"message": {"content": strategy(t)}}]}) for t in tasks]
    boards = {}
    for mode in ("strict", "partial"):
        groups: dict[str, list[float]] = defaultdict(list)
        for task, result in zip(tasks, score_each(tasks, outcomes, ScoringConfig(toolcall_score=mode)), strict=True):
            groups[task["category"]].append(result.score)
            groups["all"].append(result.score)
        boards[mode] = {k: sum(v) / len(v) for k, v in sorted(groups.items())}
    return boards
