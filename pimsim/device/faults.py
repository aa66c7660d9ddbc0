"""Fault injection for the bit-serial kernel: wrong AND2 senses, wrong activation row writes and
stuck-at weight cells, seeded and reproducible.

The kernel (:func:`pimsim.device.bitserial.bitserial_conv2d`) computes the exact layer; the
faults then change it by what the shift-add would have received from erroneous bits:

- **Sense errors.** Every sensed bit (co, n, m, pixel, r) -- one bit of the AND2 sense of weight
  plane n of channel co and activation plane m of a pixel, at reduction row r -- is wrong with
  probability ``p[a]``, a = w bit + x bit the count of AP cells it senses
  (:attr:`FaultRates.and2`), independently. A wrong bit turns the count that reaches the
  shift-add by +1 (0 read as 1) or -1, so the output changes by
  ``s_n s_m 2^(n+m) (1 - 2 AND)``. Drawing: K ~ Binomial(N, p_max) of the N sensed bits, a
  uniformly random K-subset of them (without replacement), each kept with probability
  ``p[a] / p_max``. This is exactly per-bit Bernoulli(p[a]) flips: a Binomial(N, q) count
  whose positions form a uniform K-subset is the law of N independent Bernoulli(q) bits, and
  independent thinning of a Bernoulli(q) bit with probability p/q is Bernoulli(p). The work is
  O(K), not O(N): nothing is drawn per bit or per count.
- **Write errors.** Each written activation bit (channel tile, m, pixel, r) is stored wrong with
  probability ``write``; every AND2 of that stored bit with a set weight bit flips, so the
  outputs of the tile's channels change by ``w[co, r] s_m 2^m (1 - 2 x bit)``. Sense errors are
  drawn on the intended bits (their interaction is of order p_sense * p_write).
- **Stuck-at weight cells.** A fraction ``stuck_at_frac`` of weight cells (co, r, n) reads 0 or
  1 (half each) whatever was written; drawn once per layer and injector (one chip), applied to
  the weights before the kernel runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from pimsim.device.variation import FaultRates


@dataclass
class FaultInjector:
    """The faults of one simulated chip and trial: ``rates`` and a seeded generator. Counts what
    it injected (``sensed_bits``, ``sense_flips``, ``written_bits``, ``write_flips``) and the
    layer outputs sense and write errors changed (``outputs``, ``outputs_changed``; stuck cells
    change the weights themselves and show in accuracy)."""

    rates: FaultRates
    seed: int
    sensed_bits: int = 0
    sense_flips: int = 0
    written_bits: int = 0
    write_flips: int = 0
    outputs: int = 0
    outputs_changed: int = 0
    rng: np.random.Generator = field(init=False, repr=False)
    _stuck: dict[bytes, np.ndarray] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def stuck_weights(self, w2d: np.ndarray, w_bits: int, signs: np.ndarray) -> np.ndarray:
        """``w2d`` (C_out, R) with this chip's stuck cells: the same cells for the same layer
        (its weights), whatever the batch."""
        frac = self.rates.stuck_at_frac
        if frac == 0:
            return w2d
        key = hashlib.sha256(w2d.tobytes() + str(w2d.shape).encode()).digest()
        if key not in self._stuck:
            rng = np.random.default_rng([self.seed, *np.frombuffer(key[:8], np.uint32)])
            bits = (w2d[..., None] >> np.arange(w_bits)) & 1
            stuck = rng.random(bits.shape) < frac
            bits = np.where(stuck, rng.integers(0, 2, bits.shape), bits)
            self._stuck[key] = (bits * signs).sum(-1).astype(np.int64)
        return self._stuck[key]

    def inject(self, out: np.ndarray, w2d: np.ndarray, x_at, sizes: tuple[int, int, int, int, int],
               signs_w: np.ndarray, signs_x: np.ndarray, tile_channels: int) -> None:
        """Add the effect of sense and write errors to ``out`` (C_out, pixels), in place.

        ``x_at(r, p)``: the activations (int64 arrays) at reduction rows r of pixels p;
        ``sizes``: (C_out, w_bits, x_bits, pixels, R); ``signs_*``: the planes' weights s 2^i
        (:func:`~pimsim.device.bitserial.plane_weights`); ``tile_channels``: output channels
        per sub-array (a written activation row serves them)."""
        c_out, w_bits, x_bits, pixels, rows = sizes
        before = out.copy()
        rng = self.rng
        and2 = np.asarray(self.rates.and2)
        p_max = float(and2.max())
        total = c_out * w_bits * x_bits * pixels * rows
        self.sensed_bits += total
        if p_max > 0 and total:
            k = int(rng.binomial(total, p_max))
            if k:
                pos = rng.choice(total, k, replace=False)
                co, n, m, p, r = np.unravel_index(pos, (c_out, w_bits, x_bits, pixels, rows))
                wbit = (w2d[co, r] >> n) & 1
                xbit = (x_at(r, p) >> m) & 1
                keep = rng.random(k) * p_max < and2[wbit + xbit]
                co, n, m, p = co[keep], n[keep], m[keep], p[keep]
                step = signs_w[n] * signs_x[m] * (1 - 2 * (wbit & xbit)[keep])
                # |sum| < 2^53: float64 bincount is exact
                out += np.bincount(co * pixels + p, step, out.size).astype(np.int64).reshape(
                    out.shape)
                self.sense_flips += int(keep.sum())
        tiles = -(-c_out // tile_channels)
        written = tiles * x_bits * pixels * rows
        self.written_bits += written
        if self.rates.write > 0 and written:
            k = int(rng.binomial(written, self.rates.write))
            if k:
                pos = rng.choice(written, k, replace=False)
                t, m, p, r = np.unravel_index(pos, (tiles, x_bits, pixels, rows))
                xbit = (x_at(r, p) >> m) & 1
                for ti, mi, pi, ri, xi in zip(t, m, p, r, xbit, strict=True):
                    chans = slice(ti * tile_channels, min(c_out, (ti + 1) * tile_channels))
                    out[chans, pi] += w2d[chans, ri] * signs_x[mi] * (1 - 2 * xi)
                self.write_flips += k
        self.outputs += out.size
        self.outputs_changed += int(np.count_nonzero(out != before))
