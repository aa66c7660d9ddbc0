"""Multi-domain adaptation of a frozen pimsim backbone: DA3's additive attention adaptors and
the baselines (fine-tuning, last layer + BatchNorm, parallel and series residual adapters,
Piggyback masks), with measured training memory."""

from pimsim.adapt.loop import TrainSettings, calibrate_gates, train_domain
from pimsim.adapt.memory import SavedTensorMeter, saved_tensor_bytes
from pimsim.adapt.methods import METHODS, build_adapted, da3_units, domain_storage
from pimsim.adapt.modules import DA3Design
from pimsim.adapt.run import AdaptConfig, AdaptResult, load_backbone, run_adapt, write_adapt
from pimsim.adapt.saved import load_adapted, save_adapted

__all__ = ["METHODS", "AdaptConfig", "AdaptResult", "DA3Design", "SavedTensorMeter",
           "TrainSettings", "build_adapted", "calibrate_gates", "da3_units", "domain_storage",
           "load_adapted", "load_backbone", "run_adapt", "save_adapted", "saved_tensor_bytes",
           "train_domain", "write_adapt"]
