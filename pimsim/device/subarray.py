"""A computational sub-array of ``rows x cols`` bits with counted operations.

Operations (Pinatubo-style multi-row sensing, Li et al. DAC 2016):

- ``write_row`` / ``read_row`` over a column range;
- ``sense(op, rows)``: activate 2 rows (``and2``, ``or2``, ``xor2``) or 3 rows (``maj3``) and
  latch the Boolean result in the sense amplifiers; refused if the device's sense margin for
  ``op`` is below the sense amplifier's minimum (:mod:`pimsim.device.margins`);
- ``bitcount``: count the latched ones over a column range (a read also latches);
- ``shift_add``: add ``value << shift`` (or subtract it) to an accumulator.

Every operation is counted in an :class:`EventCounts` and costed by :func:`events.cost`.
Rows are stored as packed uint64 words; the bit work runs in numba.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from pimsim.device.bitops import WORD_BITS, n_words, popcount
from pimsim.device.events import EventCounts
from pimsim.device.margins import check_margin
from pimsim.device.params import DeviceParams
from pimsim.errors import PimsimError

_OPS = {"and2": (0, 2), "or2": (1, 2), "xor2": (2, 2), "maj3": (3, 3)}


@njit(inline="always", cache=True)
def _mask(word: int, col0: int, col1: int) -> np.uint64:
    """Bits of ``word`` that lie in columns [col0, col1)."""
    lo = max(col0 - word * WORD_BITS, 0)
    hi = min(col1 - word * WORD_BITS, WORD_BITS)
    if hi <= lo:
        return np.uint64(0)
    ones = np.uint64(0xFFFFFFFFFFFFFFFF)
    upper = ones if hi == WORD_BITS else (np.uint64(1) << np.uint64(hi)) - np.uint64(1)
    return upper & ~((np.uint64(1) << np.uint64(lo)) - np.uint64(1))


@njit(cache=True)
def _write_bits(row: np.ndarray, col0: int, bits: np.ndarray) -> None:
    for i in range(bits.size):
        c = col0 + i
        bit = np.uint64(1) << np.uint64(c % WORD_BITS)
        if bits[i]:
            row[c // WORD_BITS] |= bit
        else:
            row[c // WORD_BITS] &= ~bit


@njit(cache=True)
def _read_bits(row: np.ndarray, col0: int, ncols: int) -> np.ndarray:
    out = np.empty(ncols, np.uint8)
    for i in range(ncols):
        c = col0 + i
        out[i] = np.uint8((row[c // WORD_BITS] >> np.uint64(c % WORD_BITS)) & np.uint64(1))
    return out


@njit(cache=True)
def _latch(latch: np.ndarray, value: np.ndarray, col0: int, col1: int) -> None:
    for w in range(col0 // WORD_BITS, (col1 - 1) // WORD_BITS + 1):
        m = _mask(w, col0, col1)
        latch[w] = (latch[w] & ~m) | (value[w] & m)


@njit(cache=True)
def _sense(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, op: int, col0: int, col1: int, latch: np.ndarray
) -> None:
    """Latch op(a, b[, c]) over [col0, col1): 0 AND, 1 OR, 2 XOR, 3 majority of three."""
    for w in range(col0 // WORD_BITS, (col1 - 1) // WORD_BITS + 1):
        if op == 0:
            v = a[w] & b[w]
        elif op == 1:
            v = a[w] | b[w]
        elif op == 2:
            v = a[w] ^ b[w]
        else:
            v = (a[w] & b[w]) | (a[w] & c[w]) | (b[w] & c[w])
        m = _mask(w, col0, col1)
        latch[w] = (latch[w] & ~m) | (v & m)


@njit(cache=True)
def _count(latch: np.ndarray, col0: int, col1: int) -> int:
    total = 0
    for w in range(col0 // WORD_BITS, (col1 - 1) // WORD_BITS + 1):
        total += popcount(latch[w] & _mask(w, col0, col1))
    return total


class SubArray:
    """``rows x cols`` bits with counted write/read/sense/bit-count/shift-add operations."""

    def __init__(self, params: DeviceParams, rows: int | None = None, cols: int | None = None):
        self.params = params
        self.rows = params.array.rows if rows is None else rows
        self.cols = params.array.cols if cols is None else cols
        if self.rows < 1 or self.cols < 1:
            raise PimsimError(f"SubArray: rows and cols must be >= 1, got {self.rows}x{self.cols}")
        self.cells = np.zeros((self.rows, n_words(self.cols)), np.uint64)
        self.latch = np.zeros(n_words(self.cols), np.uint64)
        self._counts = dict.fromkeys(EventCounts().as_dict(), 0)

    @property
    def events(self) -> EventCounts:
        """Events counted so far."""
        return EventCounts(**self._counts)

    def reset_events(self) -> None:
        """Zero the counters (the stored bits stay)."""
        self._counts = dict.fromkeys(self._counts, 0)

    def _range(self, col0: int, ncols: int | None) -> tuple[int, int]:
        ncols = self.cols - col0 if ncols is None else ncols
        if col0 < 0 or ncols < 1 or col0 + ncols > self.cols:
            raise PimsimError(
                f"SubArray: columns [{col0}, {col0 + ncols}) outside [0, {self.cols})"
            )
        return col0, col0 + ncols

    def _row(self, row: int) -> np.ndarray:
        if not 0 <= row < self.rows:
            raise PimsimError(f"SubArray: row {row} outside [0, {self.rows})")
        return self.cells[row]

    def write_row(self, row: int, bits: np.ndarray, col0: int = 0) -> None:
        """Write 0/1 ``bits`` into ``row`` from column ``col0``: one row write of len(bits)."""
        bits = np.ascontiguousarray(bits, dtype=np.uint8)
        c0, c1 = self._range(col0, bits.size)
        _write_bits(self._row(row), c0, bits)
        self._counts["row_writes"] += 1
        self._counts["row_write_bits"] += c1 - c0

    def read_row(self, row: int, col0: int = 0, ncols: int | None = None) -> np.ndarray:
        """Read (and latch) ``ncols`` bits of ``row``: one row read."""
        c0, c1 = self._range(col0, ncols)
        _latch(self.latch, self._row(row), c0, c1)
        self._counts["row_reads"] += 1
        self._counts["row_read_bits"] += c1 - c0
        return _read_bits(self.latch, c0, c1 - c0)

    def sense(
        self, op: str, rows: tuple[int, ...], col0: int = 0, ncols: int | None = None
    ) -> None:
        """Activate ``rows`` together and latch ``op`` of their bits: one logic sense."""
        if op not in _OPS:
            raise PimsimError(f"SubArray: unknown logic op {op!r}; known: {', '.join(_OPS)}")
        code, n_rows = _OPS[op]
        if len(rows) != n_rows or len(set(rows)) != n_rows:
            raise PimsimError(f"SubArray: {op} needs {n_rows} distinct rows, got {rows}")
        check_margin(self.params, op)
        c0, c1 = self._range(col0, ncols)
        a, b = self._row(rows[0]), self._row(rows[1])
        c = self._row(rows[2]) if n_rows == 3 else b
        _sense(a, b, c, code, c0, c1, self.latch)
        self._counts[f"{op}_senses"] += 1
        self._counts[f"{op}_sense_bits"] += c1 - c0

    def latched(self, col0: int = 0, ncols: int | None = None) -> np.ndarray:
        """The sense amplifiers' latched bits (no event: the latch is the output register)."""
        c0, c1 = self._range(col0, ncols)
        return _read_bits(self.latch, c0, c1 - c0)

    def bitcount(self, col0: int = 0, ncols: int | None = None) -> int:
        """Count the latched ones over a column range: one bit-count of ncols bits."""
        c0, c1 = self._range(col0, ncols)
        self._counts["bitcounts"] += 1
        self._counts["bitcount_bits"] += c1 - c0
        return int(_count(self.latch, c0, c1))

    def shift_add(self, accumulator: int, value: int, shift: int, subtract: bool = False) -> int:
        """Return accumulator +/- (value << shift): one shift-add."""
        self._counts["shift_adds"] += 1
        term = value << shift
        return accumulator - term if subtract else accumulator + term
