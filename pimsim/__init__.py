"""pimsim: dynamic neural networks on SOT-MRAM processing-in-memory hardware."""

__version__ = "0.1.0"
