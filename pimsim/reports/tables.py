"""Reading result CSVs a user points pimsim at, and checking the columns a report needs.

A table read here remembers its file (``table.attrs["source"]``), so every later check names
it: ``runs/a/latency.csv: column 'median_ms': row 3: 'fast' is not a number``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from pimsim.errors import PimsimError


def read_table(path: str | Path) -> pd.DataFrame:
    """``pd.read_csv`` with one-line errors for a missing, empty or malformed file."""
    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        raise PimsimError(f"{path}: not found") from None
    except IsADirectoryError:
        raise PimsimError(f"{path}: a folder, not a CSV file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise PimsimError(f"{path}: not a readable CSV ({type(exc).__name__})") from None
    table.attrs["source"] = str(path)
    return table


def source(table: pd.DataFrame) -> str:
    """How errors name ``table``: its file when :func:`read_table` read it."""
    return str(table.attrs.get("source", "table"))


def require_columns(table: pd.DataFrame, numeric: Iterable[str] = (),
                    text: Iterable[str] = ()) -> pd.DataFrame:
    """``table`` with every ``numeric`` column as finite floats and every ``text`` column as
    strings; a one-line error naming the file and the column when a column is missing, a
    numeric cell is text, NaN or infinite, a text cell is empty, or there is no row."""
    where = source(table)
    if table.empty:
        raise PimsimError(f"{where}: no rows")
    checked = {}
    for column in (*numeric, *text):
        if column not in table.columns:
            raise PimsimError(f"{where}: column {column!r}: missing")
    for column in numeric:
        values = pd.to_numeric(table[column], errors="coerce").astype(float)
        bad = ~np.isfinite(values.to_numpy())
        if bad.any():
            row = int(np.argmax(bad))
            cell = table[column].iloc[row]
            shown = repr(cell) if isinstance(cell, str) else str(cell)
            raise PimsimError(f"{where}: column {column!r}: row {row + 1}: {shown} is not a "
                              "finite number")
        checked[column] = values
    for column in text:
        missing = table[column].isna().to_numpy()
        if missing.any():
            row = int(np.argmax(missing))
            raise PimsimError(f"{where}: column {column!r}: row {row + 1}: empty")
        checked[column] = table[column].astype(str)
    out = table.assign(**checked)
    out.attrs["source"] = where
    return out
