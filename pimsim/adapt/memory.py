"""Training activation memory, measured: the bytes of the tensors autograd saves for backward.

:class:`SavedTensorMeter` installs ``torch.autograd.graph.saved_tensors_hooks`` and adds up the
storage of every distinct tensor saved during a forward pass (a storage saved twice, by two
layers or as two views, counts once), leaving out the model's parameters and buffers (stored
whether or not one trains). On a GPU, :func:`peak_cuda_bytes` adds the allocator's peak.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn


class SavedTensorMeter:
    """``with meter.measuring(): loss = model(x)...``; then ``meter.bytes``."""

    def __init__(self, model: nn.Module) -> None:
        self._exclude = {t.untyped_storage().data_ptr()
                         for t in (*model.parameters(), *model.buffers())}
        self._seen: dict[int, int] = {}

    @property
    def bytes(self) -> int:
        return sum(self._seen.values())

    def _pack(self, t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in self._exclude:
            self._seen[ptr] = max(self._seen.get(ptr, 0), storage.nbytes())
        return t

    @contextmanager
    def measuring(self) -> Iterator[SavedTensorMeter]:
        self._seen.clear()
        with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t):
            yield self


def saved_tensor_bytes(model: nn.Module, x: Tensor, y: Tensor) -> int:
    """Bytes autograd saves for one training step of ``model`` on the batch ``(x, y)``
    (forward and loss; nothing is updated, BatchNorm statistics are restored)."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    meter = SavedTensorMeter(model)
    with meter.measuring():
        loss = nn.functional.cross_entropy(model(x), y)
    del loss
    model.load_state_dict(state)
    return meter.bytes


def peak_cuda_bytes(device: torch.device) -> int | None:
    """The CUDA allocator's peak since the last reset (None off a GPU)."""
    return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
