"""Data-parallel training: 2 processes, gloo backend, launched by torchrun."""

import subprocess
import sys

import pandas as pd


def test_two_process_gloo_training_run(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "pimsim", "train", "--method", "uniform", "--widths", "0.5,1.0",
           "--epochs", "2", "--batch-size", "64", "--out", str(out), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-8000:]
    # every rank checked after training that its weights equal rank 0's (check_replicas)
    table = pd.read_csv(out / "results.csv")
    assert list(table.subnet) == ["w1", "w0.5"] and table.top1.min() > 0.3
    assert "replicas diverged" not in proc.stderr
