"""The integer layer graph of one (sub-)network: what the hardware simulator consumes.

Every tensor is an integer tensor ``q`` standing for ``q * scale`` (zero point 0). See
``pimsim.quantize.ops`` for each op's arithmetic and ``FORMAT.md`` for the on-disk form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pimsim.errors import PimsimError
from pimsim.quantize import manifest
from pimsim.quantize.execute import Accumulate, numpy_accumulate
from pimsim.quantize.layer import IntLayer
from pimsim.quantize.ops import OPS
from pimsim.quantize.requant import qrange


@dataclass
class IntGraph:
    """Integer layers in topological order; ``output`` names the layer giving the logits."""

    name: str
    bits: int
    input_shape: tuple[int, ...]
    layers: list[IntLayer]
    output: str
    meta: dict = field(default_factory=dict)
    preprocessing: dict | None = None  # Preprocessing.to_dict() of the input images, if known

    def layer(self, name: str) -> IntLayer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise PimsimError(f"{self.name}: no layer named {name!r}")

    @property
    def input(self) -> IntLayer:
        return self.layers[0]

    def compute_layers(self) -> list[IntLayer]:
        """The layers that hold weights (conv, linear), in order."""
        return [layer for layer in self.layers if OPS[layer.op].has_weights]

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """``clamp(floor(x / s + 1/2), qmin, qmax)`` in float64, as int64."""
        first = self.input
        x = np.asarray(x, dtype=np.float64)
        if x.shape[1:] != tuple(self.input_shape):
            raise PimsimError(f"{self.name}: input: expected images of shape "
                              f"{tuple(self.input_shape)}, got {x.shape[1:]}")
        lo, hi = qrange(first.out_bits, first.out_signed)
        return np.clip(np.floor(x / first.out_scale + 0.5), lo, hi).astype(np.int64)

    def run_int(self, x_int: np.ndarray) -> np.ndarray:
        """Integer output (int64) of the graph on a quantized input batch."""
        return self.run_all(x_int)[self.output]

    def run_all(self, x_int: np.ndarray,
                accumulate: Accumulate = numpy_accumulate) -> dict[str, np.ndarray]:
        """Every layer's integer output on a quantized input batch, each weight layer's
        accumulator from ``accumulate`` (the numpy reference by default; the bit-serial PIM
        kernel in :func:`pimsim.simulate.run_pim`)."""
        values: dict[str, np.ndarray] = {self.input.name: np.asarray(x_int, dtype=np.int64)}
        for layer in self.layers[1:]:
            inputs = [values[i] for i in layer.inputs]
            values[layer.name] = OPS[layer.op].execute(layer, inputs, accumulate)
        return values

    def run(self, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Float logits ``q_out * out_scale`` of float images ``(N, C, H, W)``."""
        x = np.asarray(x)
        out = [self.run_int(self.quantize_input(x[i:i + batch_size]))
               for i in range(0, len(x), batch_size)]
        return np.concatenate(out) * self.layer(self.output).out_scale

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write ``<path>.npz`` and ``<path>.json`` (see ``FORMAT.md``); returns both paths."""
        header = {key: getattr(self, key) for key in manifest.HEADER}
        return manifest.write_graph(header, self.layers, path)

    @classmethod
    def load(cls, path: str | Path) -> IntGraph:
        """Read a graph written by :meth:`save`; one-line errors naming the file and field."""
        header, layers = manifest.read_graph(path)
        return cls(layers=layers, **header)
