"""How a layer maps onto computational sub-arrays, and its closed-form event counts.

Mapping (assumptions; the mapper issue refines parallelism and latency):

- GEMM view of a layer: ``out[co, p] = sum_r W[co, r] * X[r, p]`` with reduction length
  ``R = C_in * K_h * K_w`` (``r = (ci, kh, kw)``) and ``P = batch * OH * OW`` output pixels
  (a linear layer is the case K = 1, OH = OW = 1).
- The reduction axis runs along a sub-array's columns, split into ``ceil(R / cols)`` chunks.
- A sub-array holds, for one chunk, the ``w_bits`` weight bit-planes of
  ``g = (rows - x_bits) // w_bits`` output channels (one row each) and ``x_bits`` rows for the
  activation bit-planes of one output pixel; the layer uses ``chunks * ceil(C_out / g)``
  sub-arrays. Weights are written once (:func:`weight_load_events`), not per inference.
- Per pixel and sub-array: write the ``x_bits`` activation rows (chunk-width bits each); then for
  each of its output channels and each weight bit n and activation bit m: one AND2 sense over the
  chunk, one bit-count of the chunk's bits, one shift-add of ``count << (m + n)`` (a subtract for
  a negatively weighted plane) into the output accumulator of ``(co, p)``, shared by the chunks.

Per layer and inference this gives, with ``T = ceil(C_out / g)`` and ``C = ceil(R / cols)``:

    row_writes = P * x_bits * C * T            row_write_bits = P * x_bits * R * T
    and2_senses = bitcounts = shift_adds = C_out * P * x_bits * w_bits * C
    and2_sense_bits = bitcount_bits = C_out * P * x_bits * w_bits * R
"""

from __future__ import annotations

from dataclasses import dataclass

from pimsim.device.events import EventCounts
from pimsim.errors import PimsimError
from pimsim.geometry import conv_output_size

DEFAULT_ROWS = 256
DEFAULT_COLS = 256


@dataclass(frozen=True)
class Tiling:
    """Placement of one GEMM (C_out x R weights) on ``rows x cols`` sub-arrays."""

    c_out: int
    reduction: int
    x_bits: int
    w_bits: int
    rows: int
    cols: int

    def __post_init__(self) -> None:
        if self.rows < self.x_bits + self.w_bits:
            raise PimsimError(
                f"sub-array rows: {self.rows} rows cannot hold {self.x_bits} activation rows "
                f"and one {self.w_bits}-bit weight (need >= {self.x_bits + self.w_bits})"
            )
        if self.cols < 1 or self.c_out < 1 or self.reduction < 1:
            raise PimsimError(f"tiling: cols, c_out and reduction must be >= 1: {self}")

    @property
    def chunks(self) -> int:
        """Column chunks of the reduction axis: ceil(R / cols)."""
        return -(-self.reduction // self.cols)

    @property
    def channels_per_subarray(self) -> int:
        """g = (rows - x_bits) // w_bits output channels per sub-array."""
        return (self.rows - self.x_bits) // self.w_bits

    @property
    def channel_tiles(self) -> int:
        """T = ceil(C_out / g)."""
        return -(-self.c_out // self.channels_per_subarray)

    @property
    def subarrays(self) -> int:
        """Sub-arrays holding the layer's weights: chunks * T."""
        return self.chunks * self.channel_tiles

    def chunk_width(self, chunk: int) -> int:
        """Columns used by ``chunk``."""
        return min(self.cols, self.reduction - chunk * self.cols)


def gemm_events(tiling: Tiling, pixels: int) -> EventCounts:
    """Closed-form events of one inference of a GEMM over ``pixels`` output pixels."""
    t = tiling
    pairs = t.c_out * pixels * t.x_bits * t.w_bits
    return EventCounts(
        row_writes=pixels * t.x_bits * t.chunks * t.channel_tiles,
        row_write_bits=pixels * t.x_bits * t.reduction * t.channel_tiles,
        and2_senses=pairs * t.chunks,
        and2_sense_bits=pairs * t.reduction,
        bitcounts=pairs * t.chunks,
        bitcount_bits=pairs * t.reduction,
        shift_adds=pairs * t.chunks,
    )


def weight_load_events(tiling: Tiling) -> EventCounts:
    """Writing the weight bit-planes once: C_out * w_bits rows per chunk."""
    t = tiling
    return EventCounts(
        row_writes=t.c_out * t.w_bits * t.chunks,
        row_write_bits=t.c_out * t.w_bits * t.reduction,
    )


def conv2d_events(
    batch: int,
    c_in: int,
    height: int,
    width: int,
    c_out: int,
    kernel_size: int | tuple[int, int],
    stride: int = 1,
    padding: int = 0,
    x_bits: int = 8,
    w_bits: int = 8,
    rows: int = DEFAULT_ROWS,
    cols: int = DEFAULT_COLS,
) -> EventCounts:
    """Closed-form events of one bit-serial conv2d (see the module docstring)."""
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    oh = conv_output_size(height, kh, stride, padding)
    ow = conv_output_size(width, kw, stride, padding)
    tiling = Tiling(c_out, c_in * kh * kw, x_bits, w_bits, rows, cols)
    return gemm_events(tiling, batch * oh * ow)


def linear_events(
    batch: int,
    in_features: int,
    out_features: int,
    x_bits: int = 8,
    w_bits: int = 8,
    rows: int = DEFAULT_ROWS,
    cols: int = DEFAULT_COLS,
) -> EventCounts:
    """Closed-form events of one bit-serial linear layer."""
    return gemm_events(Tiling(out_features, in_features, x_bits, w_bits, rows, cols), batch)
