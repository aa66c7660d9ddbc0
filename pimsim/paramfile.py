"""Reading parameter files (``device_params/``, ``mappings/``): groups of cited leaves.

A *group* is a YAML mapping from key to leaf; a leaf is ``{value: ..., source: "..."}`` (a
published figure) or ``{value: ..., assumption: "..."}`` (no public figure; override freely).
A group becomes a frozen dataclass; every error is one line naming the file and the key.
Overrides (``{"group.key": value}``, :func:`apply_overrides`) are checked by the same rules.
Every YAML text pimsim reads goes through :func:`parse_yaml` (no anchors or aliases, at most
``MAX_YAML_BYTES`` and ``MAX_YAML_DEPTH`` levels), so a hostile file fails fast in one line.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from pimsim.errors import PimsimError

MAX_YAML_BYTES = 1 << 20  # a parameter or specs file is a few kB
MAX_YAML_DEPTH = 32  # nesting of mappings and sequences
MAX_INT = 1 << 24  # any integer parameter (sub-arrays per level, bus width, bits ...)
# Per-key bounds (key name -> largest value) on top of MAX_INT: cells per sub-array side.
INT_BOUNDS = {"rows": 1 << 16, "cols": 1 << 16}
FLOAT_RANGE = (1e-30, 1e30)  # any float parameter (all are > 0); beyond it costs overflow
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SHOW = reprlib.Repr()
_SHOW.maxstring = _SHOW.maxother = 60


def show(value: Any) -> str:
    """A bounded ``repr`` for error messages (a hostile value may be megabytes long)."""
    return _SHOW.repr(value)


def short(name: Any, limit: int = 60) -> str:
    """A key as error messages name it: ``str``, on one line, cut to ``limit`` characters."""
    text = " ".join(str(name).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def locate(path_or_name: str | Path, folder: Path, kind: str) -> tuple[Path, str]:
    """``(path, where)`` of a file given by path, or by name from ``folder`` (no ``.yaml``
    suffix and no ``/``): ``where`` is how errors name it, e.g. ``mappings/default.yaml``."""
    text = str(path_or_name)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        return Path(path_or_name), text
    path = folder / f"{text}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
        raise PimsimError(f"{path}: no such {kind} {text!r}; known: {known}")
    return path, f"{folder.name}/{path.name}"


def load_yaml(path: str | Path, where: str) -> Any:
    """:func:`parse_yaml` of a file of at most ``MAX_YAML_BYTES``, with one-line errors."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise PimsimError(f"{where}: cannot read: {exc.strerror}") from None
    except ValueError:  # a NUL character in the path
        raise PimsimError(f"{show(where)}: cannot read: not a valid path") from None
    if len(data) > MAX_YAML_BYTES:
        raise PimsimError(f"{where}: larger than {MAX_YAML_BYTES} bytes; not a pimsim file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PimsimError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    return parse_yaml(text, where)


def parse_yaml(text: str, where: str) -> Any:
    """``yaml.safe_load`` of ``text`` (SafeLoader semantics: plain data, no ``!!python`` tags),
    refusing anchors and aliases and nesting deeper than ``MAX_YAML_DEPTH`` before anything is
    built (an alias bomb of a few hundred bytes fails in microseconds); one-line errors."""
    try:
        depth = 0
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise _refused(where, event, "anchors and aliases (&, *) are not allowed")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise _refused(where, event, f"nested deeper than {MAX_YAML_DEPTH} levels")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        return yaml.load(text, Loader=_LOADER)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        # ValueError: e.g. an integer of 5000 digits, a timestamp of month 13
        raise PimsimError(f"{where}: not valid YAML: {_yaml_problem(exc)}") from None


def _yaml_problem(exc: Exception) -> str:
    """The problem and its position, in one line of at most about 200 characters."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
    at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
    return short(problem, 200) + at


def _refused(where: str, event: yaml.Event, why: str) -> PimsimError:
    line = f" (line {event.start_mark.line + 1})" if event.start_mark else ""
    return PimsimError(f"{where}: {why}{line}")


def check_value(where: str, key: str, annotation: Any, value: Any) -> None:
    """Type check by annotation (bool, int, float, str; ``| None`` allows None); numbers must
    be > 0 and finite, and keys ending in ``_frac`` must also be < 1. Sanity bounds: integers
    at most ``MAX_INT`` (or ``INT_BOUNDS`` for their key name), floats within
    ``FLOAT_RANGE``."""
    kind = str(annotation)
    if value is None:
        if "None" in kind:
            return
        raise PimsimError(f"{where}: {key}: missing")
    if kind.startswith("bool"):
        if not isinstance(value, bool):
            raise PimsimError(f"{where}: {key}: must be true or false, got {show(value)}")
        return
    if kind.startswith("str"):
        if not isinstance(value, str):
            raise PimsimError(f"{where}: {key}: must be a string, got {show(value)}")
        return
    if kind.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise PimsimError(f"{where}: {key}: must be an integer, got {show(value)}")
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise PimsimError(f"{where}: {key}: must be a number, got {show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise PimsimError(f"{where}: {key}: must be a finite number, got {value}")
    if not value > 0:
        raise PimsimError(f"{where}: {key}: must be > 0, got {show(value)}")
    if key.endswith("_frac") and not value < 1:
        raise PimsimError(f"{where}: {key}: must be < 1 (a fraction), got {show(value)}")
    if kind.startswith("int"):
        bound = INT_BOUNDS.get(key.rpartition(".")[2], MAX_INT)
        if value > bound:
            raise PimsimError(f"{where}: {key}: must be <= {bound}, got {show(value)}")
    elif not FLOAT_RANGE[0] <= value <= FLOAT_RANGE[1]:  # exact for ints of any size too
        raise PimsimError(f"{where}: {key}: must lie in [{FLOAT_RANGE[0]:g}, "
                          f"{FLOAT_RANGE[1]:g}], got {show(value)}")


def read_leaf(where: str, key: str, leaf: Any) -> tuple[Any, str]:
    """``(value, "source: ..." | "assumption: ...")`` of a leaf."""
    if not isinstance(leaf, Mapping) or "value" not in leaf:
        raise PimsimError(
            f"{where}: {key}: must be a mapping {{value, source|assumption}}, got {show(leaf)}"
        )
    extra = set(leaf) - {"value", "source", "assumption"}
    if extra:
        raise PimsimError(f"{where}: {key}.{min(map(short, extra))}: unknown key (a typo?)")
    notes = [k for k in ("source", "assumption") if k in leaf]
    if len(notes) != 1 or not isinstance(leaf[notes[0]], str) or not leaf[notes[0]].strip():
        raise PimsimError(f"{where}: {key}: needs exactly one non-empty 'source' or 'assumption'")
    return leaf["value"], f"{notes[0]}: {leaf[notes[0]]}"


def build_group(where: str, group: str, cls: type, raw: Any, notes: dict[str, str] | None,
                cited: bool = True) -> Any:
    """The dataclass ``cls`` from mapping ``raw``: unknown keys, missing keys and bad values are
    refused. ``cited``: leaves are ``{value, source|assumption}`` (notes go into ``notes``);
    otherwise plain values."""
    if not isinstance(raw, Mapping):
        raise PimsimError(f"{where}: {group}: must be a mapping, got {show(raw)}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise PimsimError(
                f"{where}: {group}.{short(key)}: unknown key (a typo?); known: {', '.join(known)}"
            )
    values = {}
    for name, f in known.items():
        if name not in raw:
            if f.default is dataclasses.MISSING:
                raise PimsimError(f"{where}: {group}.{name}: missing")
            continue
        if cited:
            values[name], note = read_leaf(where, f"{group}.{name}", raw[name])
            if notes is not None:
                notes[f"{group}.{name}"] = note
        else:
            values[name] = raw[name]
        check_value(where, f"{group}.{name}", f.type, values[name])
    return cls(**values)


def apply_overrides(path: str, groups: Mapping[str, Any], overrides: Mapping[str, Any],
                    notes: Iterable[tuple[str, str]]) -> tuple[str, dict[str, Any],
                                                           tuple[tuple[str, str], ...]]:
    """``(where, groups, notes)`` after replacing ``{"group.key": value}`` in ``groups`` (name ->
    frozen dataclass), each value checked as in a file (:func:`check_value`); an unknown group or
    key is a one-line error. ``where`` is ``"<path> (override)"``; each overridden key's note
    becomes ``override: <value>``. The caller validates the whole object again."""
    where = f"{path} (override)"
    new = dict(groups)
    new_notes = dict(notes)
    for dotted, value in overrides.items():
        group, _, key = dotted.partition(".")
        if group not in new:
            raise PimsimError(
                f"{where}: {dotted}: unknown group {group!r}; known: {', '.join(new)}"
            )
        known = {f.name: f for f in dataclasses.fields(new[group])}
        if key not in known:
            raise PimsimError(
                f"{where}: {dotted}: unknown key (a typo?); known: {', '.join(known)}"
            )
        check_value(where, dotted, known[key].type, value)
        new[group] = dataclasses.replace(new[group], **{key: value})
        new_notes[dotted] = f"override: {value!r}"
    return where, new, tuple(sorted(new_notes.items()))
