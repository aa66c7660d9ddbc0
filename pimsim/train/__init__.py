"""Training (five sub-net generation methods), checkpoints, BN re-calibration, evaluation."""

from pimsim.train.bn_calibration import recalibrate_bn
from pimsim.train.checkpoint import load_checkpoint, save_checkpoint
from pimsim.train.config import METHOD_NAMES, RunConfig, TrainConfig
from pimsim.train.evaluate import evaluate_subnets, top1
from pimsim.train.run import run_training

__all__ = ["METHOD_NAMES", "RunConfig", "TrainConfig", "evaluate_subnets", "load_checkpoint",
           "recalibrate_bn", "run_training", "save_checkpoint", "top1"]
