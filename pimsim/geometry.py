"""Layer geometry, in one place: convolution output size, MACs, the GEMM view of a weight
layer and im2col offsets. Base stage: plain integers and numpy, no other pimsim module.

GEMM view (the mapper's and the bit-serial kernel's): a convolution with ``groups`` groups is
``groups`` independent GEMMs ``out[g, co, p] = sum_r W[g, co, r] * X[g, r, p]`` of
``C_out / groups`` output channels over a reduction of ``R = C_in / groups * K_h * K_w``
(``r = (ci, kh, kw)``, ``ci`` major) and ``P = H_out * W_out`` output pixels per image. A linear
layer is the case ``K = 1``, ``H_out = W_out = 1``, ``groups = 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pimsim.errors import PimsimError


def pair(v: int | tuple[int, ...] | list[int]) -> tuple[int, int]:
    """``v`` as ``(h, w)``: an int is used for both."""
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """floor((size + 2 * padding - kernel) / stride) + 1 (also pools without ceil_mode)."""
    return (size + 2 * padding - kernel) // stride + 1


def conv_output_hw(in_hw: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
                   padding: tuple[int, int]) -> tuple[int, int]:
    """:func:`conv_output_size` along H and W."""
    return (conv_output_size(in_hw[0], kernel[0], stride[0], padding[0]),
            conv_output_size(in_hw[1], kernel[1], stride[1], padding[1]))


def conv_macs(out_h: int, out_w: int, c_out: int, c_in: int, kh: int, kw: int,
              groups: int = 1) -> int:
    """H_out * W_out * C_out * (C_in / groups) * K_h * K_w."""
    return out_h * out_w * c_out * (c_in // groups) * kh * kw


def linear_macs(in_features: int, out_features: int) -> int:
    """in * out."""
    return in_features * out_features


def check_groups(c_in: int, c_out: int, groups: int, where: str) -> None:
    """``groups`` must divide both channel counts (torch's own rule)."""
    if groups < 1 or c_in % groups or c_out % groups:
        raise PimsimError(f"{where}: groups: {groups} must divide C_in {c_in} and C_out {c_out}")


@dataclass(frozen=True)
class Gemm:
    """A weight layer as ``groups`` GEMMs (see the module docstring); shapes per image."""

    c_in: int
    c_out: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    in_hw: tuple[int, int] = (1, 1)
    out_hw: tuple[int, int] = (1, 1)
    groups: int = 1

    @property
    def group_c_out(self) -> int:
        """Output channels of one group's GEMM: C_out / groups."""
        return self.c_out // self.groups

    @property
    def reduction(self) -> int:
        """R = C_in / groups * K_h * K_w (one group's reduction length)."""
        return self.c_in // self.groups * self.kernel[0] * self.kernel[1]

    @property
    def pixels(self) -> int:
        """P = H_out * W_out."""
        return self.out_hw[0] * self.out_hw[1]

    @property
    def macs(self) -> int:
        """C_out * R * P (:func:`conv_macs`)."""
        return conv_macs(*self.out_hw, self.c_out, self.c_in, *self.kernel, self.groups)


def padded_shape(shape: tuple[int, ...], padding: int) -> tuple[int, int, int, int]:
    """(N, C, H + 2 padding, W + 2 padding) of a zero-padded (N, C, H, W) batch."""
    n, c, h, w = shape
    return n, c, h + 2 * padding, w + 2 * padding


def im2col_offsets(shape: tuple[int, ...], kh: int, kw: int, stride: int, oh: int, ow: int,
                   block: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat offsets into a contiguous padded (N, C, Hp, Wp) array: element (r, p) of its
    im2col matrix is at ``row[r] + pixel[p]``, r = (ci, i, j), p = (b, oy, ox). The pixel
    offsets, strictly increasing, are padded to a multiple of ``block`` with the first (the
    smallest), so no run of them that reaches the padding looks contiguous."""
    nb, c, hp, wp = shape
    row = (np.arange(c)[:, None, None] * hp + np.arange(kh)[:, None]) * wp + np.arange(kw)
    pixel = ((np.arange(nb)[:, None, None] * c * hp + np.arange(oh)[:, None] * stride) * wp
             + np.arange(ow) * stride).reshape(-1)
    pixel = np.pad(pixel, (0, -pixel.size % block), constant_values=pixel[0])
    return row.reshape(-1), pixel
