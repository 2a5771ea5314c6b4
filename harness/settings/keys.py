"""Strict setting names: a misspelled key from the environment, `.env` or `--set` is an error, not a no-op.

pydantic-settings drops unknown nested keys silently, so `HARNESS_POLICY__MAX_PARAMETER=1000` (missing `S`)
used to leave the real cap in place and `harness check` said "allowed". Here every key is walked against the
settings schema and an unknown one is refused with the closest valid name.

Flat `HARNESS_X` variables that are not settings are left alone (other tools and compose files use the
prefix, e.g. `HARNESS_DATA`), unless they are a near miss of a top-level setting; a variable with `__`
always means a nested setting and must name one.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

ENV_PREFIX = "HARNESS_"
NESTED = "__"


class UnknownSettingError(ValueError):
    """A key that names no setting; the message names the closest valid one."""


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X; other unions stay as they are."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _child(annotation: Any, part: str) -> tuple[bool, Any, list[str]]:
    """(known, annotation below `part`, valid names here) for one step down the schema."""
    annotation = _unwrap(annotation)
    if _is_model(annotation):
        fields = annotation.model_fields
        return part in fields, fields[part].annotation if part in fields else None, sorted(fields)
    origin = typing.get_origin(annotation)
    if origin in (dict, Mapping) or annotation is dict:
        args = typing.get_args(annotation)
        return True, args[1] if len(args) == 2 else Any, []
    return False, None, []


def check_key(model: type[BaseModel], path: list[str], shown: str) -> None:
    """Raise `UnknownSettingError` unless `path` names a setting (or something under a free-form mapping)."""
    annotation: Any = model
    for depth, part in enumerate(path):
        annotation_now = _unwrap(annotation)
        if annotation_now is Any:
            return  # free-form value: anything below is the value's business
        is_leaf = not (_is_model(annotation_now) or typing.get_origin(annotation_now) is dict)
        if is_leaf and depth:  # a leaf value has no sub-keys
            parent = ".".join(path[:depth])
            raise UnknownSettingError(f"unknown setting {shown!r}: {parent} has no sub-settings")
        known, below, names = _child(annotation, part)
        if not known:
            prefix = ".".join(path[:depth])
            close = difflib.get_close_matches(part, names, n=1, cutoff=0.6)
            hint = f"; did you mean {'.'.join([*path[:depth], close[0]])}?" if close else ""
            where = f" in section {prefix!r}" if prefix else ""
            raise UnknownSettingError(f"unknown setting {shown!r}{where}{hint}")
        annotation = below


def env_key_path(name: str) -> list[str] | None:
    """The settings path a `HARNESS_*` variable addresses, or None when it is not a HARNESS_ variable."""
    if not name.upper().startswith(ENV_PREFIX):
        return None
    return [p.lower() for p in name[len(ENV_PREFIX) :].split(NESTED)]


def check_env(model: type[BaseModel], names: Iterable[str], origin: str) -> None:
    """Refuse nested `HARNESS_A__B` names that are not settings, and flat near misses of top-level settings."""
    top = sorted(model.model_fields)
    for name in sorted(names):
        path = env_key_path(name)
        if path is None or not all(path):
            continue
        if len(path) == 1 and path[0] not in model.model_fields:
            close = difflib.get_close_matches(path[0], top, n=1, cutoff=0.85)
            if close:
                raise UnknownSettingError(
                    f"unknown setting {name} ({origin}); did you mean {ENV_PREFIX}{close[0].upper()}?"
                )
            continue  # another tool's HARNESS_ variable
        try:
            check_key(model, path, name)
        except UnknownSettingError as exc:
            message = str(exc)
            if "did you mean " in message:
                head, suggestion = message.rsplit("did you mean ", 1)
                env_name = ENV_PREFIX + NESTED.join(suggestion.rstrip("?").split(".")).upper()
                message = f"{head}did you mean {env_name}?"
            raise UnknownSettingError(f"{message} ({origin})") from None


def check_tree(model: type[BaseModel], tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> None:
    """Check every leaf path of a `--set` override tree."""
    for key, value in tree.items():
        path = [*prefix, key]
        check_key(model, path, ".".join(path))
        if isinstance(value, dict) and value:
            _, below, _ = _child_at(model, path)
            below = _unwrap(below)
            if _is_model(below) or typing.get_origin(below) is dict:
                check_tree(model, value, tuple(path))
            elif below is not Any and below is not dict:
                check_key(model, [*path, next(iter(value))], ".".join([*path, str(next(iter(value)))]))


def _child_at(model: type[BaseModel], path: list[str]) -> tuple[bool, Any, list[str]]:
    annotation: Any = model
    known = True
    for part in path:
        known, annotation, names = _child(annotation, part)
        if not known:
            return False, None, names
    return known, annotation, []


def dotenv_names(path: str = ".env") -> list[str]:
    """Variable names in a `.env` file (the ones pydantic-settings would read), without the values."""
    try:
        from dotenv import dotenv_values
    except ImportError:  # pragma: no cover - python-dotenv comes with pydantic-settings
        return []
    try:
        return [k for k in dotenv_values(path) if k]
    except OSError:
        return []
