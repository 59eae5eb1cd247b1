"""Typed dataclass configs: YAML in, unknown keys and wrong types rejected, resolved YAML out."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from photorecon.errors import PhotoreconError, first_line

T = TypeVar("T")


def _check_value(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise PhotoreconError(f"config key {key!r}: expected a mapping, got {value!r}")
        return from_dict(tp, value, prefix=f"{key}.")
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in typing.get_args(tp):
            if arg is type(None) and value is None:
                return None
            try:
                return _check_value(arg, value, key)
            except PhotoreconError as exc:
                errors.append(str(exc))
        raise PhotoreconError(f"config key {key!r}: {value!r} does not fit {tp}")
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise PhotoreconError(f"config key {key!r}: expected a list, got {value!r}")
        (arg, *_) = typing.get_args(tp) or (Any,)
        items = [_check_value(arg, v, key) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise PhotoreconError(f"config key {key!r}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        # YAML 1.1 reads `3e-4` (no dot) as a string; accept any text Python reads as a float.
        try:
            return float(value)
        except ValueError:
            pass
    if tp is bool and not isinstance(value, bool):
        raise PhotoreconError(f"config key {key!r}: expected true/false, got {value!r}")
    if tp is int and isinstance(value, bool):
        raise PhotoreconError(f"config key {key!r}: expected an integer, got {value!r}")
    if not isinstance(value, tp):
        raise PhotoreconError(
            f"config key {key!r}: expected {tp.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


@dataclasses.dataclass(frozen=True)
class Range:
    """Allowed values of a number: low <= x <= high (either side open: < instead of <=)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def problem(self, value: float) -> str | None:
        low_bad = self.low is not None and (
            value <= self.low if self.low_open else value < self.low
        )
        high_bad = self.high is not None and (
            value >= self.high if self.high_open else value > self.high
        )
        if not (low_bad or high_bad):
            return None
        lo = "" if self.low is None else f"{self.low:g} {'<' if self.low_open else '<='} "
        hi = "" if self.high is None else f" {'<' if self.high_open else '<='} {self.high:g}"
        return f"must be {lo}x{hi}"


def value_problems(obj: Any, prefix: str = "") -> list[str]:
    """Every value of a config (and its sections) outside what its class allows: a class lists
    them in `LIMITS` (field name -> Range, or a tuple of allowed values) and may add checks
    across fields in a `problems()` method. Returns one "key: why" line per problem."""
    out: list[str] = []
    limits = getattr(type(obj), "LIMITS", {})
    for f in dataclasses.fields(obj):
        value, key = getattr(obj, f.name), f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            out += value_problems(value, f"{key}.")
            continue
        rule = limits.get(f.name)
        if isinstance(rule, Range) and isinstance(value, int | float):
            why = rule.problem(value)
            if why:
                out.append(f"{key}={value!r}: {why}")
        elif isinstance(rule, tuple) and value not in rule:
            out.append(f"{key}={value!r}: one of {', '.join(map(repr, rule))}")
    if hasattr(obj, "problems"):
        out += [f"{prefix}{line}" for line in obj.problems()]
    return out


def check_values(obj: T) -> T:
    """`obj` itself, or one error naming every value out of bounds."""
    problems = value_problems(obj)
    if problems:
        raise PhotoreconError("bad config values: " + "; ".join(problems))
    return obj


def from_dict(cls: type[T], data: dict, prefix: str = "") -> T:
    """Build dataclass `cls` from a mapping; unknown keys and wrong types raise with the key."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise PhotoreconError(
            f"unknown config key {prefix}{unknown[0]!s} (known: {', '.join(sorted(names))})"
        )
    kwargs = {k: _check_value(hints[k], v, f"{prefix}{k}") for k, v in data.items()}
    return cls(**kwargs)


def to_dict(obj: Any) -> dict:
    """A dataclass as plain YAML-friendly data (tuples become lists)."""

    def plain(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [plain(v) for v in x]
        return x

    return plain(dataclasses.asdict(obj))


def set_override(data: dict, assignment: str) -> None:
    """Apply `a.b.c=value` (value parsed as YAML) to a nested mapping in place."""
    if "=" not in assignment:
        raise PhotoreconError(f"--set expects key=value, got {assignment!r}")
    key, raw = assignment.split("=", 1)
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise PhotoreconError(f"--set {key}: {part!r} is not a section")
    node[parts[-1]] = yaml.safe_load(raw)


def load_config(cls: type[T], path: str | Path | None = None, sets: list[str] = ()) -> T:
    """Defaults <- YAML file <- `--set` overrides, checked against `cls`."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise PhotoreconError(f"{path}: config file not found")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise PhotoreconError(f"{path}: invalid YAML ({first_line(exc)})") from None
        if not isinstance(data, dict):
            raise PhotoreconError(f"{path}: a config must be a mapping")
    for assignment in sets:
        set_override(data, assignment)
    return check_values(from_dict(cls, data))


def dump_config(obj: Any) -> str:
    """Resolved config as YAML text."""
    return yaml.safe_dump(to_dict(obj), sort_keys=False)
