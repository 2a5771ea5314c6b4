"""The task-family registry: each family generates its tasks from a seed, scores its own answers and says what
it needs (vision, the setting that holds its task count, its scorer's resources).

The evaluator, the task-set builder, selftest and the CLI look families up here instead of branching on their
names, so a new source of tasks plugs in by adding one module under `harness.tasks` and registering it below.
Families import their settings class only for typing, so `harness.tasks.config` can import this registry to
validate competition names without a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NotRequired, Protocol, TypedDict

from harness.tasks import caption_family, toolcall_family

if TYPE_CHECKING:
    from harness.tasks.config import TasksConfig
    from scoring.config import ScoringConfig


class TaskRecord(TypedDict):
    """One task as stored in a task set (plain JSON: the set's bytes are hashed and compared across validators).

    Every family fills the common keys; the rest belong to one family and are read only by its scorer."""

    id: str
    family: str
    category: str
    source: str
    messages: list[dict[str, Any]]
    tools: NotRequired[list[dict[str, Any]]]
    functions: NotRequired[list[dict[str, Any]]]
    """toolcall: the function docs in BFCL's schema dialect."""
    possible_answer: NotRequired[list[dict[str, Any]]]
    """toolcall: BFCL ground truth, `[{name: {param: [accepted values]}}]`."""
    references: NotRequired[list[str]]
    """caption: reference captions."""
    prompt: NotRequired[str]
    """caption: the user text sent with the image."""


class Answer(Protocol):
    """What a family's scorer reads of an answered task (`harness.evaluation.run_loop.TaskOutcome` is one)."""

    content: Any
    tool_calls: Any


class TaskFamily(Protocol):
    """A source of tasks and the scorer of their answers."""

    name: str
    needs_vision: bool
    """Its tasks carry images: only vision-capable models get them, the others score 0 on them."""
    id_prefix: str
    count_setting: str
    """The `TasksConfig` field that holds how many of its tasks a round has (`tasks.<count_setting>`)."""

    def generate(self, seed: str, n: int, config: TasksConfig) -> tuple[list[dict], dict[str, Any]]:
        """(tasks without ids, the settings that shaped them); a pure function of its arguments."""
        ...

    def score(
        self, tasks: Sequence[dict], outcomes: Sequence[Answer], scoring: ScoringConfig, resource: Any = None
    ) -> list[dict[str, Any]]:
        """Per task (outcomes are in task order and all answered), the result fields: at least `score` in [0, 1].

        `resource` replaces what the family's scorer builds for itself (a test's embedding scorer, say)."""
        ...


_REGISTRY: dict[str, TaskFamily] = {}


def register(family: TaskFamily) -> TaskFamily:
    if family.name in _REGISTRY and _REGISTRY[family.name] is not family:
        raise ValueError(f"task family {family.name!r} is registered twice")
    _REGISTRY[family.name] = family
    return family


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


# Registration order is the order families appear in a multi-family set: it is part of the set's bytes.
register(toolcall_family.FAMILY)
register(caption_family.FAMILY)


def family_names() -> tuple[str, ...]:
    """Registered families in registration order (the order families appear in a multi-family set)."""
    return tuple(_REGISTRY)


def get_family(name: str) -> TaskFamily:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown task family {name!r}; known: {', '.join(_REGISTRY)}") from None


def task_count(name: str, config: TasksConfig) -> int:
    """How many tasks of family `name` a round has, from the family's own setting."""
    return int(getattr(config, get_family(name).count_setting))


def count_settings(n: int) -> dict[str, int]:
    """Every family's count setting set to `n`: a settings update (selftest's `--n`)."""
    return {family.count_setting: n for family in _REGISTRY.values()}


def needs_vision(families: Mapping[str, float]) -> bool:
    return any(weight > 0 and get_family(name).needs_vision for name, weight in families.items())
