"""Repeat a simulation from its ``config.json`` (``pimsim simulate --config``): the same options,
the same checkpoint (checked by SHA-256), and the device and mapping files as they were: the
recorded file when it is unchanged, else the copy the record holds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from pimsim.errors import PimsimError
from pimsim.simulate.hardware import file_sha256
from pimsim.simulate.run import SimulateConfig

INPUTS = ("device_params", "mapping")  # SimulateConfig options recorded with a file copy


@contextmanager
def replayed(config_file: str | Path) -> Iterator[SimulateConfig]:
    """The options of the run that wrote ``config_file``, valid inside the ``with`` block: the
    device and mapping options as given when their files are unchanged, else their recorded
    copies, written to a temporary folder for the block's duration."""
    where = str(config_file)
    config = _read(config_file, where)
    options = dict(_field(config, "options", where))
    checkpoint = config.get("checkpoint")
    if options.get("checkpoint") is not None and isinstance(checkpoint, dict):
        if _sha256_or_none(str(options["checkpoint"])) != checkpoint.get("sha256"):
            raise PimsimError(f"{where}: checkpoint: {options['checkpoint']} is "
                              "missing or changed since the run (SHA-256 differs)")
    with TemporaryDirectory(prefix="pimsim-replay-") as tmp:
        for key in INPUTS:
            record = _field(config, key, where)
            if _sha256_or_none(str(record.get("path"))) != record.get("sha256"):
                text = record.get("text")
                if not isinstance(text, str):
                    raise PimsimError(f"{where}: {key}: the file changed since the run and "
                                      "the record holds no copy (text)")
                copy = Path(tmp) / Path(str(record.get("path"))).name
                copy.write_text(text)
                options[key] = str(copy)
        try:
            cfg = SimulateConfig.from_dict(options)
        except TypeError as exc:
            raise PimsimError(f"{where}: options: {exc}") from None
        yield cfg


def _read(config_file: str | Path, where: str) -> dict[str, Any]:
    try:
        config = json.loads(Path(config_file).read_text())
    except OSError as exc:
        raise PimsimError(f"{where}: cannot read: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PimsimError(f"{where}: not JSON ({exc})") from None
    if not isinstance(config, dict):
        raise PimsimError(f"{where}: not a pimsim simulate config.json")
    return config


def _field(config: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = config.get(key)
    if not isinstance(value, dict):
        raise PimsimError(f"{where}: {key}: missing (not a pimsim simulate config.json)")
    return value


def _sha256_or_none(path: str) -> str | None:
    try:
        return file_sha256(path)
    except OSError:
        return None
