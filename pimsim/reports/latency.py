"""Measured run-time trade-off: wall-clock latency of every exported sub-net on CPU or GPU.

Each sub-net is exported as a standalone model (contiguous weights: a sliced view is slower)
and timed on a random batch: ``warmup`` untimed runs, then rounds of ``repeats`` timed runs
(``torch.cuda.synchronize`` around each on a GPU). A round's ``spread`` is its interquartile
range over its median; rounds repeat until one is within ``tolerance`` or ``max_rounds`` ran,
and the least spread round is reported (``latency_per_batch_ms``: its median;
``latency_per_image_ms = latency_per_batch_ms / batch``). A row still beyond the tolerance is
marked ``noisy`` and named in a warning on stderr. On a GPU, float32 convolutions and matrix
products run in true float32: TF32 is turned off while timing (and a note says so).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pandas as pd
import torch

from pimsim.errors import PimsimError
from pimsim.network import DynamicNet
from pimsim.progress import progress


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _timed(fn: Callable[[], object], device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) * 1e3


@contextmanager
def _true_float32(device: str, note: Callable[[str], None]) -> Iterator[None]:
    """On cuda: TF32 off for matmul and cuDNN while inside (restored after)."""
    if device != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    note("note: cuda timing in float32 with TF32 off (torch.backends.cuda.matmul.allow_tf32 "
         "and torch.backends.cudnn.allow_tf32 = False)")
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def round_stats(times_ms: list[float]) -> dict[str, float]:
    """Median, min, max, interquartile range and ``spread = iqr / median`` of one round."""
    times = sorted(times_ms)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    med = statistics.median(times)
    return {"latency_per_batch_ms": med, "latency_min_per_batch_ms": times[0],
            "latency_max_per_batch_ms": times[-1], "latency_iqr_per_batch_ms": q[2] - q[0],
            "spread": (q[2] - q[0]) / med}


@torch.inference_mode()
def measure_latency(model: DynamicNet, input_hw: tuple[int, int], device: str = "cpu",
                    batch: int = 1, repeats: int = 20, warmup: int = 3, seed: int = 0,
                    tolerance: float = 0.1, max_rounds: int = 5,
                    note: Callable[[str], None] = _stderr) -> pd.DataFrame:
    """One row per sub-net: ``subnet``, ``compute_device``, ``batch``, ``threads``,
    ``repeats`` (timed runs in all), ``latency_per_batch_ms``, ``latency_per_image_ms``,
    ``latency_{min,max,iqr}_per_batch_ms``, ``spread`` and ``noisy``."""
    if device == "cuda" and not torch.cuda.is_available():
        raise PimsimError("--device: cuda requested but no CUDA GPU is available")
    if repeats < 1 or batch < 1 or warmup < 0 or max_rounds < 1:
        raise PimsimError("--repeats/--batch/--max-rounds: must be positive, --warmup >= 0")
    if not tolerance > 0:
        raise PimsimError(f"--tolerance: must be > 0, got {tolerance}")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, model.in_channels, *input_hw, generator=g).to(device)
    rows = []
    with _true_float32(device, note):
        for spec in progress(model.subnets, "latency", unit="sub-net"):
            plain = model.export_subnet(spec).eval().to(device)
            for _ in range(warmup):
                plain(x)
            best, rounds = None, 0
            while rounds < max_rounds and (best is None or best["spread"] > tolerance):
                stats = round_stats([_timed(lambda m=plain: m(x), device)
                                     for _ in range(repeats)])
                rounds += 1
                if best is None or stats["spread"] < best["spread"]:
                    best = stats
            noisy = best["spread"] > tolerance
            if noisy:
                note(f"warning: latency of {spec.name} is noisy: spread (IQR / median) "
                     f"{best['spread']:.2f} > {tolerance:g} after {rounds} rounds of {repeats} "
                     "runs; the machine may be busy")
            rows.append({"subnet": spec.name, "compute_device": device, "batch": batch,
                         "threads": torch.get_num_threads(), "repeats": rounds * repeats,
                         **best, "noisy": noisy})
    table = pd.DataFrame(rows)
    table.insert(6, "latency_per_image_ms", table.latency_per_batch_ms / batch)
    return table
