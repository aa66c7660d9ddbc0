"""Sweeps and simulations on a Dask cluster: the same rows as the process pool; a worker killed
mid-sweep loses and duplicates nothing."""

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from pimsim import executors
from pimsim.errors import PimsimError
from pimsim.reports import sweep as sweep_module
from pimsim.reports.sweep import SweepConfig, points, run_sweep
from pimsim.simulate import SimulateConfig, simulate
from pimsim.simulate import run as run_module
from pimsim.train import TrainConfig, run_training

distributed = pytest.importorskip("distributed")

SWEEP = dict(cost_only=True, model="resnet20", input_size=32, num_classes=10, widths=(0.5, 1.0),
             bits=(8, 16), devices=("sot_mram_45nm", "sram_45nm"),
             axes={"chip.rows": [128, 256], "policy.replicate": [False, True]})


@pytest.fixture(scope="module")
def scheduler():
    """The address of a local cluster of 2 single-threaded workers in this process."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("dask_run")
    run_training(TrainConfig(dataset="synthetic:64,40", input_size=8, num_classes=2,
                             widths=(0.5, 1.0), epochs=1, batch_size=32), out, quiet=True)
    return str(out / "model.pt")


def test_a_sweep_on_dask_equals_the_process_pool_row_for_row(scheduler, tmp_path):
    pooled = run_sweep(SweepConfig(**SWEEP, jobs=2), tmp_path / "pool", quiet=True)
    on_dask = run_sweep(SweepConfig(**SWEEP, executor="dask", scheduler=scheduler),
                        tmp_path / "dask", quiet=True)
    assert len(pooled) == 2 * len(points(SweepConfig(**SWEEP)))
    pd.testing.assert_frame_equal(on_dask, pooled)
    assert (tmp_path / "dask" / "sweep.csv").read_bytes() == \
        (tmp_path / "pool" / "sweep.csv").read_bytes()


def test_a_sweep_started_on_one_executor_resumes_on_another(scheduler, tmp_path):
    """The folder's settings stamp leaves out where the sweep runs."""
    out = tmp_path / "s"
    first = run_sweep(SweepConfig(**SWEEP), out, quiet=True)
    (out / "sweep.csv").unlink()
    next(iter((out / "points").glob("*.csv"))).unlink()
    again = run_sweep(SweepConfig(**SWEEP, executor="dask", scheduler=scheduler), out,
                      quiet=True)
    pd.testing.assert_frame_equal(again, first)


def test_a_simulation_on_dask_equals_the_single_process_run(scheduler, checkpoint,
                                                             monkeypatch):
    monkeypatch.setattr(run_module, "SHARD_IMAGES", 16)  # 3 shards per sub-net
    base = SimulateConfig(checkpoint=checkpoint, bits=8, check_all=True)
    on_dask = simulate(replace(base, executor="dask", scheduler=scheduler))
    alone = simulate(base)
    pd.testing.assert_frame_equal(on_dask.subnets, alone.subnets)
    pd.testing.assert_frame_equal(on_dask.layers, alone.layers)
    assert (on_dask.subnets.images == 40).all()


def test_without_dask_the_executor_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails
    with pytest.raises(PimsimError, match=r"--executor: dask needs .*pimsim\[cluster\]"), \
            executors.open_executor("dask"):
        pass


@pytest.mark.slow
def test_a_worker_killed_mid_sweep_then_a_rerun_loses_and_duplicates_no_row(tmp_path,
                                                                             monkeypatch):
    """SIGKILL one of 2 worker processes after the first points are saved: the scheduler
    reruns its task elsewhere (or the sweep fails); a rerun leaves exactly the rows of an
    uninterrupted run."""
    monkeypatch.setattr(sweep_module, "CHUNK", 1)  # one task per point
    cfg = dict(SWEEP, model="resnet18", input_size=64, devices=("sot_mram_45nm", "sram_45nm",
                                                                 "stt_mram_45nm"))
    full = run_sweep(SweepConfig(**cfg), tmp_path / "full", quiet=True)
    out = tmp_path / "cut"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
        killed = {}

        def kill_after_first_points() -> None:
            deadline = time.monotonic() + 120
            while len(list((out / "points").glob("*.csv"))) < 2:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.01)
            killed["saved"] = len(list((out / "points").glob("*.csv")))
            os.kill(pids[0], signal.SIGKILL)

        killer = threading.Thread(target=kill_after_first_points)
        killer.start()
        dask_cfg = SweepConfig(**cfg, executor="dask", scheduler=cluster.scheduler_address)
        try:
            run_sweep(dask_cfg, out, quiet=True)
        except Exception:  # a lost worker may fail the run: the rerun finishes it
            pass
        killer.join()
        again = run_sweep(dask_cfg, out, quiet=True)
    assert 2 <= killed["saved"] < len(full) // 2, "the worker was not killed mid-sweep"
    pd.testing.assert_frame_equal(again, full)
    assert not again.duplicated().any()
    assert (out / "sweep.csv").read_bytes() == (tmp_path / "full" / "sweep.csv").read_bytes()
    assert len(list((out / "points").glob("*.csv"))) == len(points(SweepConfig(**cfg)))
    assert Path(out / "sweep.json").is_file()
