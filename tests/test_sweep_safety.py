"""Sweeps under concurrency and faults: the folder lock, point identities, duplicate axis
values, workers that die with the sweep, and reruns after a kill at any point."""

import fcntl
import functools
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimsim import executors
from pimsim.device.params import PRESETS_DIR
from pimsim.errors import PimsimError
from pimsim.mapper.chip import MAPPINGS_DIR
from pimsim.reports import sweep as sweep_module
from pimsim.reports.sweep import LOCK, SweepConfig, point_key, points, run_sweep, sweep_identity
from tests.conftest import exit_code

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ["sweep", "--cost-only", "--model", "resnet20", "--input-size", "32",
         "--num-classes", "10", "--widths", "0.5,1", "--quiet"]


def _cfg(**kw) -> SweepConfig:
    base = dict(cost_only=True, model="resnet20", input_size=32, num_classes=10,
                widths=(0.5, 1.0), bits=(8, 16), axes={"chip.rows": [128, 256]})
    return SweepConfig(**(base | kw))


def _keys(cfg: SweepConfig) -> set[str]:
    identity = sweep_identity(cfg)
    return {point_key(p, identity) for p in points(cfg)}


def test_a_second_sweep_into_a_locked_folder_is_a_one_line_error(tmp_path, capsys):
    out = tmp_path / "sweep"
    out.mkdir()
    with open(out / LOCK, "a") as held:  # a sweep running in another process
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert exit_code([*SWEEP, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert "another sweep is running there" in err and "\n" not in err
        assert not (out / "sweep.csv").exists() and not (out / "points").exists()
    assert exit_code([*SWEEP, "--out", str(out)]) == 0  # released: it runs
    assert len(pd.read_csv(out / "sweep.csv")) == 2


def test_point_keys_include_everything_that_defines_a_point(tmp_path):
    base = _keys(_cfg())
    assert len(base) == 4  # bits x rows
    variants = [_cfg(model="resnet18"), _cfg(input_size=64), _cfg(in_channels=1),
                _cfg(num_classes=100), _cfg(widths=(0.25, 1.0)), _cfg(bits=(16,))]
    for cfg in variants[:-1]:
        assert not _keys(cfg) & base, cfg
    assert _keys(variants[-1]) < base  # a sub-sweep: the same points
    assert _keys(_cfg(widths=(1.0, 0.5, 0.5))) == base  # the same family
    assert _keys(_cfg(jobs=2)) == base  # how it runs does not define a point
    # a device or mapping file edited between runs defines other points
    for option, preset in (("devices", PRESETS_DIR / "sot_mram_45nm.yaml"),
                           ("mapping", MAPPINGS_DIR / "default.yaml")):
        copy = tmp_path / f"{option}.yaml"
        copy.write_text(preset.read_text())
        value = (str(copy),) if option == "devices" else str(copy)
        before = _keys(_cfg(**{option: value}))
        assert not before & base  # another file name
        copy.write_text(copy.read_text() + "\n# edited\n")
        assert not _keys(_cfg(**{option: value})) & before, option


def test_a_folder_never_mixes_two_sweeps_rows(tmp_path):
    """The points of a resnet18 sweep left in a resnet20 sweep's folder are never read."""
    other = run_sweep(_cfg(model="resnet18"), tmp_path / "r18", quiet=True)
    ours = run_sweep(_cfg(), tmp_path / "r20", quiet=True)
    for f in (tmp_path / "r18" / "points").iterdir():
        (tmp_path / "r20" / "points" / f.name).write_bytes(f.read_bytes())
    (tmp_path / "r20" / "sweep.csv").unlink()
    again = run_sweep(_cfg(), tmp_path / "r20", quiet=True)
    pd.testing.assert_frame_equal(again, ours)
    assert not again.macs.isin(other.macs).any()


@pytest.mark.parametrize("argv, message", [
    (["--bits", "8,8"], "--bits: 8 given twice"),
    (["--set", "chip.rows=128,256,128"], "--set chip.rows: 128 given twice"),
    (["--set", "mtj.tmr_ratio=1,1.0"], "--set mtj.tmr_ratio: 1.0 given twice"),
    (["--device-params", "sot_mram_45nm,sram_45nm,sot_mram_45nm"],
     "--device-params: sot_mram_45nm given twice"),
    (["--device-params", f"sot_mram_45nm,{PRESETS_DIR / 'sot_mram_45nm.yaml'}"],
     "given twice (as sot_mram_45nm)"),
])
def test_duplicate_axis_values_are_refused(tmp_path, capsys, argv, message):
    out = tmp_path / "sweep"
    assert exit_code([*SWEEP, *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and not out.exists()


STOPPED = _cfg(axes={"chip.rows": [128, 256], "policy.replicate": [False, True]})


@functools.cache
def _uninterrupted() -> tuple[pd.DataFrame, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        table = run_sweep(STOPPED, tmp, quiet=True)
        return table, (Path(tmp) / "sweep.csv").read_bytes()


@settings(max_examples=4, deadline=None)
@given(k=st.integers(1, 8), jobs=st.sampled_from([1, 2]))
def test_a_sweep_stopped_after_any_point_reruns_to_the_same_csv(k, jobs):
    """An exception after ``k`` saved points (a kill between two atomic writes), then a rerun:
    byte-identical ``sweep.csv`` to an uninterrupted run."""
    cfg = replace(STOPPED, jobs=jobs)
    full, full_csv = _uninterrupted()
    with tempfile.TemporaryDirectory() as tmp:
        real, saved = sweep_module.write_atomic, {"n": 0}

        def dying(path, write):
            real(path, write)
            if path.parent.name == "points":
                saved["n"] += 1
                if saved["n"] == k:
                    raise RuntimeError("killed")

        sweep_module.write_atomic = dying
        try:
            with pytest.raises(RuntimeError, match="killed"):
                run_sweep(cfg, Path(tmp) / "cut", quiet=True)
        finally:
            sweep_module.write_atomic = real
        assert len(list((Path(tmp) / "cut" / "points").glob("*.csv"))) == k
        again = run_sweep(cfg, Path(tmp) / "cut", quiet=True)
        assert (Path(tmp) / "cut" / "sweep.csv").read_bytes() == full_csv
        pd.testing.assert_frame_equal(again, full)
        assert len(full) == 16


def _children(pid: int) -> set[int]:
    """Every descendant of ``pid`` (from ``/proc/PID/task/*/children``)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                kids = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += kids - found
            found |= kids
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


LONG_SWEEP = ["--model", "resnet18", "--input-size", "64", "--bits", "8,16",
              "--device-params", "sot_mram_45nm,stt_mram_45nm,sram_45nm",
              "--set", "chip.rows=64,128,256,512", "--set", "policy.replicate=false,true",
              "--set", "chip.subarrays_per_mat=8,16,32"]


def _start_sweep(out: Path, *extra: str) -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "pimsim", "sweep", "--cost-only",
                             *LONG_SWEEP, *extra, "--quiet", "--out", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_exit_when_the_sweep_is_killed(tmp_path, sig):
    proc = _start_sweep(tmp_path / "sweep", "--jobs", "2")
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while len(workers := _children(proc.pid)) < 2:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no workers started"
            time.sleep(0.05)
        time.sleep(0.3)
        os.kill(proc.pid, sig)
        code = proc.wait(timeout=10)
        assert code == (-sig if sig == signal.SIGKILL else 128 + sig)
        deadline = time.monotonic() + 5
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [w for w in workers if _alive(w)], "workers outlived the sweep"
        err = proc.stderr.read().decode()
        assert "Traceback" not in err, err
    finally:
        for pid in {proc.pid, *workers, *_children(proc.pid)}:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.slow
def test_a_sweep_killed_at_a_random_time_reruns_to_the_same_csv(tmp_path):
    run = ["--model", "resnet20", "--input-size", "32", "--num-classes", "10", "--bits", "8,16",
           "--device-params", "sot_mram_45nm,sram_45nm", "--set", "chip.rows=64,128,256,512",
           "--set", "policy.replicate=false,true"]
    env = os.environ | {"PYTHONPATH": str(ROOT)}

    def sweep(out: Path) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "pimsim", "sweep", "--cost-only", *run,
                                 "--quiet", "--out", str(out)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    assert sweep(tmp_path / "full").wait() == 0
    cut = sweep(tmp_path / "cut")
    points_dir = tmp_path / "cut" / "points"
    goal = random.Random(os.getpid()).randint(1, 20)  # a random point of 32
    while cut.poll() is None and len(list(points_dir.glob("*.csv"))) < goal:
        time.sleep(0.01)
    cut.kill()
    cut.wait()
    assert sweep(tmp_path / "cut").wait() == 0
    assert (tmp_path / "cut" / "sweep.csv").read_bytes() == \
        (tmp_path / "full" / "sweep.csv").read_bytes()


def test_pool_workers_reset_sigterm_and_watch_their_parent(monkeypatch):
    """The worker initializer: SIGTERM's default action, and an orphan exits at once."""
    calls = []
    monkeypatch.setattr(executors.signal, "signal", lambda *a: calls.append(a))
    monkeypatch.setattr(executors.os, "_exit", lambda code: calls.append(("exit", code)))
    executors._die_with_parent(os.getppid())
    assert calls == [(signal.SIGTERM, signal.SIG_DFL), (signal.SIGINT, signal.SIG_IGN)]
    if sys.platform.startswith("linux"):
        # prctl was really called on this process: undo it (0 = no signal)
        import ctypes

        executors._die_with_parent(-1)  # a parent that is not ours: exit
        assert calls[-1] == ("exit", 1)
        ctypes.CDLL(None).prctl(executors.PR_SET_PDEATHSIG, 0)


def test_lock_error_is_a_pimsim_error_in_process(tmp_path):
    out = tmp_path / "s"
    with sweep_module.folder_lock(out), pytest.raises(PimsimError, match="another sweep"):
        run_sweep(_cfg(), out, quiet=True)
