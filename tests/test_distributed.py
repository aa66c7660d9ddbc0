"""Data-parallel training: 2 processes, gloo backend, launched by torchrun."""

import subprocess
import sys

import pandas as pd
import pytest


# single-path under a cost budget: the last batch (1,347 = 21 x 64 + 3, all the training
# data: --validation 0) shards unevenly, and every rank must still draw the same sub-nets
@pytest.mark.parametrize("method_args, names", [
    (["--method", "uniform", "--widths", "0.5,1.0"], ["w1", "w0.5"]),
    (["--method", "single-path", "--budgets", "0.5,1.0", "--fix-epochs", "0",
      "--cost-budget", "1.2"], ["b1", "b0.5"]),
])
@pytest.mark.slow
def test_two_process_gloo_training_run(tmp_path, method_args, names):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "pimsim", "train", *method_args,
           "--epochs", "2", "--batch-size", "64", "--validation", "0", "--out", str(out),
           "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-8000:]
    # every rank checked after training that its weights equal rank 0's (check_replicas)
    table = pd.read_csv(out / "results.csv")
    assert list(table.subnet) == names and table.top1_float.min() > 0.3
    assert "replicas diverged" not in proc.stderr
