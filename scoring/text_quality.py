"""Is a model's free text an answer in plain words? Shared by caption penalties and tool-call irrelevance.

Scores that reward "not doing X" (an irrelevance task is right when no tool is called) are free points for a
broken model unless the answer must also be real text: a model emitting garbage, an empty string, or one
token repeated never decodes as a call. So an answer counts as plain words only when all of these hold
(`plain_words_problem` names the first that fails):

- `empty`: it has at least one word (letters or digits) after stripping whitespace.
- `replacement-char`: no U+FFFD (the mark of bytes that are not valid text: a broken tokenizer or weights).
- `control-char`: no control or unassigned characters other than newline, tab and carriage return.
- `not-language`: at least `MIN_TEXT_SHARE` of the non-space characters are letters, combining marks, digits,
  punctuation or currency/math signs (not emoji or symbol soup).
- `implausible-words`: at least `MIN_PLAUSIBLE_SHARE` of the letters sit in words of at most `MAX_WORD_LEN`
  letters, and, over three words or more, the mean word length is at most `MAX_MEAN_WORD_LEN` (gibberish glues
  sub-word tokens into long words: 11-17 letters on average in real degraded outputs, 4-5 in English prose,
  under 9 in German; scripts written without spaces, such as Chinese or Japanese, count each character as a
  word).
- `mixed-case`: at most `MAX_MIXED_CASE_SHARE` of the words have an upper-case letter right after a lower-case
  one (`partyiesIS`, `beISapersithsies`), unless fewer than `MIN_MIXED_CASE_WORDS` do (a product name or a
  code identifier in a sentence is fine).
- `repetitive`: not a loop or token spam (`is_repetitive`).

The rule is deliberately simple and language-agnostic: it does not judge whether the answer is right, only
that it is text a person could read.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from itertools import pairwise

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Scripts written without spaces between words: each character is its own "word" for the length rule.
_UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f\u0e80-\u0eff\u1000-\u109f"
_UNSPACED_CHAR = re.compile(f"[{_UNSPACED}]")
_LETTERS = re.compile(f"[^\\W\\d_{_UNSPACED}]+", re.UNICODE)
_ALLOWED_CONTROL = {"\n", "\t", "\r"}
_TEXT_CATEGORIES = ("L", "M", "N", "P")
_TEXT_SYMBOLS = {"Sc", "Sm"}

MAX_WORD_LEN = 24
MIN_PLAUSIBLE_SHARE = 0.8
MIN_TEXT_SHARE = 0.85
MAX_MEAN_WORD_LEN = 10.0
MAX_MIXED_CASE_SHARE = 0.2
MIN_MIXED_CASE_WORDS = 3


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def is_repetitive(text: str) -> bool:
    """Loops and token spam: few distinct trigrams, one word dominating, or text that compresses too well."""
    tokens = words(text)
    if len(tokens) >= 6:
        trigrams = list(zip(tokens, tokens[1:], tokens[2:], strict=False))
        if len(set(trigrams)) / len(trigrams) < 0.6:
            return True
        if Counter(tokens).most_common(1)[0][1] / len(tokens) > 0.4:
            return True
    raw = text.encode("utf-8", "replace")
    return len(raw) >= 120 and len(zlib.compress(raw, 9)) / len(raw) < 0.3


def _is_text_char(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] in _TEXT_CATEGORIES or category in _TEXT_SYMBOLS


def plain_words_problem(text: object) -> str | None:
    """None when `text` reads as plain words; else the name of the first rule it breaks (see module doc)."""
    if not isinstance(text, str) or not words(text):
        return "empty"
    if "\ufffd" in text:
        return "replacement-char"
    visible = [c for c in text if not c.isspace()]
    if any(unicodedata.category(c) in ("Cc", "Cn", "Cs", "Co") and c not in _ALLOWED_CONTROL for c in text):
        return "control-char"
    if sum(1 for c in visible if _is_text_char(c)) < MIN_TEXT_SHARE * len(visible):
        return "not-language"
    letter_runs = _LETTERS.findall(text)
    letters = sum(len(run) for run in letter_runs) + len(_UNSPACED_CHAR.findall(text))
    plausible = sum(len(run) for run in letter_runs if len(run) <= MAX_WORD_LEN) + len(_UNSPACED_CHAR.findall(text))
    if letters and plausible < MIN_PLAUSIBLE_SHARE * letters:
        return "implausible-words"
    if len(letter_runs) >= 3 and sum(len(run) for run in letter_runs) > MAX_MEAN_WORD_LEN * len(letter_runs):
        return "implausible-words"
    mixed = sum(1 for run in letter_runs if any(a.islower() and b.isupper() for a, b in pairwise(run)))
    if mixed >= MIN_MIXED_CASE_WORDS and mixed > MAX_MIXED_CASE_SHARE * len(letter_runs):
        return "mixed-case"
    if is_repetitive(text):
        return "repetitive"
    return None


def is_plain_words(text: object) -> bool:
    return plain_words_problem(text) is None
