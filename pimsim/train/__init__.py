"""Training, checkpoints and evaluation of dynamic networks."""

from pimsim.train.checkpoint import load_checkpoint, save_checkpoint
from pimsim.train.evaluate import evaluate_subnets, top1
from pimsim.train.joint import TrainConfig, run_training, train_joint

__all__ = ["TrainConfig", "evaluate_subnets", "load_checkpoint", "run_training",
           "save_checkpoint", "top1", "train_joint"]
