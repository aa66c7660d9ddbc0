"""Sizes refused before allocation: an input whose tensors could not fit in memory is a one-line
error naming the option and the memory it would need, not a minutes-long swap and a crash."""

from __future__ import annotations

from pimsim.errors import PimsimError

MAX_TENSOR_BYTES = 8 << 30  # 8 GiB: far above every supported run (resnet50 at 224: < 1 GiB)
FLOAT_BYTES = 4  # float32


def check_bytes(need: int, what: str, option: str = "--input-size") -> None:
    """Refuse ``need`` bytes above ``MAX_TENSOR_BYTES``: ``<option>: <what> needs about N GiB
    (the limit is 8 GiB)``."""
    if need > MAX_TENSOR_BYTES:
        raise PimsimError(f"{option}: {what} needs about {need / 2**30:,.1f} GiB of memory "
                          f"(the limit is {MAX_TENSOR_BYTES / 2**30:g} GiB); give a smaller "
                          "value")
