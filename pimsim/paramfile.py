"""Reading parameter files (``device_params/``, ``mappings/``): groups of cited leaves.

A *group* is a YAML mapping from key to leaf; a leaf is ``{value: ..., source: "..."}`` (a
published figure) or ``{value: ..., assumption: "..."}`` (no public figure; override freely).
A group becomes a frozen dataclass; every error is one line naming the file and the key.
Overrides (``{"group.key": value}``, :func:`apply_overrides`) are checked by the same rules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from pimsim.errors import PimsimError


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


def load_yaml(path: Path, where: str) -> Any:
    """``yaml.safe_load`` of a file, with one-line errors."""
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise PimsimError(f"{where}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise PimsimError(f"{where}: not valid YAML: {str(exc).splitlines()[0]}") from None


def check_value(where: str, key: str, annotation: Any, value: Any) -> None:
    """Type check by annotation (bool, int, float, str; ``| None`` allows None); numbers must
    be > 0, and keys ending in ``_frac`` must also be < 1."""
    kind = str(annotation)
    if value is None:
        if "None" in kind:
            return
        raise PimsimError(f"{where}: {key}: missing")
    if kind.startswith("bool"):
        if not isinstance(value, bool):
            raise PimsimError(f"{where}: {key}: must be true or false, got {value!r}")
        return
    if kind.startswith("str"):
        if not isinstance(value, str):
            raise PimsimError(f"{where}: {key}: must be a string, got {value!r}")
        return
    if kind.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise PimsimError(f"{where}: {key}: must be an integer, got {value!r}")
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise PimsimError(f"{where}: {key}: must be a number, got {value!r}")
    if not value > 0:
        raise PimsimError(f"{where}: {key}: must be > 0, got {value}")
    if key.endswith("_frac") and not value < 1:
        raise PimsimError(f"{where}: {key}: must be < 1 (a fraction), got {value}")


def read_leaf(where: str, key: str, leaf: Any) -> tuple[Any, str]:
    """``(value, "source: ..." | "assumption: ...")`` of a leaf."""
    if not isinstance(leaf, Mapping) or "value" not in leaf:
        raise PimsimError(
            f"{where}: {key}: must be a mapping {{value, source|assumption}}, got {leaf!r}"
        )
    extra = set(leaf) - {"value", "source", "assumption"}
    if extra:
        raise PimsimError(f"{where}: {key}.{sorted(extra)[0]}: unknown key (a typo?)")
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
        raise PimsimError(f"{where}: {group}: must be a mapping, got {raw!r}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise PimsimError(
                f"{where}: {group}.{key}: unknown key (a typo?); known: {', '.join(known)}"
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
