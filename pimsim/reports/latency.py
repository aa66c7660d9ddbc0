"""Measured run-time trade-off: wall-clock latency of every exported sub-net on CPU or GPU.

Each sub-net is exported as a standalone model (contiguous weights: a sliced view is slower)
and timed on a random batch: ``warmup`` untimed runs, then ``repeats`` timed runs
(``torch.cuda.synchronize`` around each on a GPU); the median and the spread (min, max,
interquartile range) are reported in ms per batch, with the median per image.
"""

from __future__ import annotations

import statistics
import time

import pandas as pd
import torch

from pimsim.errors import PimsimError
from pimsim.network import DynamicNet


def _timed(fn, device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) * 1e3


@torch.inference_mode()
def measure_latency(model: DynamicNet, input_hw: tuple[int, int], device: str = "cpu",
                    batch: int = 1, repeats: int = 20, warmup: int = 3,
                    seed: int = 0) -> pd.DataFrame:
    """One row per sub-net: ``subnet``, ``device``, ``batch``, ``median_ms``, ``min_ms``,
    ``max_ms``, ``iqr_ms``, ``per_image_ms``."""
    if device == "cuda" and not torch.cuda.is_available():
        raise PimsimError("--device: cuda requested but no CUDA GPU is available")
    if repeats < 1 or batch < 1 or warmup < 0:
        raise PimsimError("--repeats/--batch/--warmup: must be positive")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, model.in_channels, *input_hw, generator=g).to(device)
    rows = []
    for spec in model.subnets:
        plain = model.export_subnet(spec).eval().to(device)
        for _ in range(warmup):
            plain(x)
        times = sorted(_timed(lambda m=plain: m(x), device) for _ in range(repeats))
        q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
        med = statistics.median(times)
        rows.append({"subnet": spec.name, "device": device, "batch": batch, "median_ms": med,
                     "min_ms": times[0], "max_ms": times[-1], "iqr_ms": q[2] - q[0],
                     "per_image_ms": med / batch})
    return pd.DataFrame(rows)
