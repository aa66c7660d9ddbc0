"""Reading result CSVs a user points pimsim at."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pimsim.errors import PimsimError


def read_table(path: str | Path) -> pd.DataFrame:
    """``pd.read_csv`` with one-line errors for a missing, empty or malformed file."""
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise PimsimError(f"{path}: not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise PimsimError(f"{path}: not a readable CSV ({type(exc).__name__})") from None
