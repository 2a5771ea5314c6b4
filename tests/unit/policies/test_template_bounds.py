"""Attacks on the template audit itself: folding must cost what the checker chooses, not what the miner writes.

On main, `as_const()` folded `x[9**9**9]`-style index expressions (minutes of CPU, growing ~6x per step) and
`x['a' * 10**9]` (gigabytes). Each case here would hang or exhaust this test process if folding were unbounded;
the checks run under an address-space limit so a regression fails with MemoryError instead of taking the machine.
"""

from __future__ import annotations

import resource

import pytest

from policies.template import MAX_RANGE, check_template

CAP = 256 * 1024


@pytest.fixture
def address_space_cap():
    """Cap this process's growth at +1 GiB while the test runs."""
    import os

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open(f"/proc/{os.getpid()}/statm") as fh:
        current = int(fh.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (current + 1024**3, hard))
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("{{ messages[9 ** 9 ** 9 ** 9] }}", "literal arithmetic"),
        ("{{ messages[(9 ** 99) ** 99] }}", "literal arithmetic"),
        ("{{ messages['a' * 10 ** 9] }}", "repeating a string"),
        ("{{ messages[('ab' * 100000) * 100000] }}", "repeating a string"),
        ("{% for i in range(10 ** 9) %}x{% endfor %}", "range()"),
        (f"{{% for i in range({MAX_RANGE + 1}) %}}x{{% endfor %}}", "range()"),
        ("{{ messages[2 ** n] }}", "literal arithmetic"),
    ],
)
def test_runaway_literals_are_refused_without_being_computed(source: str, why: str, address_space_cap) -> None:
    problems = check_template(source, CAP)
    assert any(why in p for p in problems), problems


def test_concatenated_dunders_are_still_found_through_bounded_folding(address_space_cap) -> None:
    problems = check_template("{{ x[('__CLA' ~ 'SS__') | lower] }}", CAP)
    assert any("__class__" in p for p in problems), problems
    long_key = "{{ x['" + "a" * 300 + "' ~ '__class__'] }}"  # too long to fold: the literal still names a dunder
    assert check_template(long_key, CAP)


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(messages | length) %}{{ i }}{% endfor %}",
        "{% for i in range(3) %}{{ '=' * 20 }}{% endfor %}",
        "{{ 2 ** 8 }}{{ messages[-1]['content'] }}",
        "{{ ('<|im_' ~ 'start|>') | upper }}",
    ],
)
def test_ordinary_arithmetic_still_passes(source: str) -> None:
    assert check_template(source, CAP) == []
