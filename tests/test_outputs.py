"""The output policy (#18): every unwritable ``--out`` is one line and exit 2 with nothing
half-written; checkpoints, states and exports that do not load are one line naming the file;
checksums catch corruption; outputs honour the umask; a killed run resumes exactly."""

from __future__ import annotations

import errno
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pimsim.commands import main
from pimsim.errors import PimsimError
from pimsim.io import child, write_text_atomic
from pimsim.quantize import IntGraph
from pimsim.train.checkpoint import save_sealed
from tests.conftest import exit_code

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ["train", "--dataset", "synthetic", "--input-size", "8", "--num-classes", "2",
         "--widths", "0.5,1.0", "--epochs", "2", "--batch-size", "32", "--quiet"]
COST_ONLY = ["--cost-only", "--model", "resnet20", "--input-size", "8", "--num-classes", "10",
             "--widths", "0.5,1.0"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A complete tiny training run: model.pt, state.pt, results.csv, ..."""
    out = tmp_path_factory.mktemp("run") / "run"
    assert main([*TRAIN, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "sim"
    assert main(["simulate", *COST_ONLY, "--out", str(out)]) == 0
    return out


def _argv(command: str, out: Path, run_dir: Path) -> list[str]:
    """``command`` on the tiny model, writing to ``out``."""
    model = str(run_dir / "model.pt")
    return {
        "train": [*TRAIN, "--out", str(out)],
        "quantize": ["quantize", "--checkpoint", model, "--bits", "8", "--calib-batches", "1",
                     "--quiet", "--out", str(out)],
        "simulate": ["simulate", *COST_ONLY, "--out", str(out)],
        "sweep": ["sweep", *COST_ONLY, "--quiet", "--out", str(out)],
        "demo": ["demo", "--epochs", "1", "--limit", "4", "--quiet", "--out", str(out)],
        "count": ["count", "--input-size", "8", "--out", str(out)],
        "eval": ["eval", "--checkpoint", model, "--limit", "4", "--out", str(out)],
        "latency": ["latency", "--checkpoint", model, "--repeats", "1", "--warmup", "0",
                    "--quiet", "--out", str(out)],
        "plot": ["plot", str(out)],
    }[command]


def _one_line_error(capsys, *parts: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    for part in parts:
        assert part in err, err
    return err


def _listing(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` (hidden temporary files included) and its size."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*")}


# -- --out where it cannot be written ---------------------------------------------------------


@pytest.mark.parametrize("command", ["train", "quantize", "simulate", "sweep", "demo"])
def test_an_existing_file_as_out_folder_is_one_line(command, run_dir, tmp_path, capsys):
    out = tmp_path / "taken"
    out.write_text("mine\n")
    assert exit_code(_argv(command, out, run_dir)) == 2
    _one_line_error(capsys, f"error: --out: {out}: exists and is not a folder")
    assert out.read_text() == "mine\n" and _listing(tmp_path) == {"taken": 5}


@pytest.mark.parametrize("command", ["train", "simulate", "sweep"])
def test_out_below_a_file_is_one_line(command, run_dir, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "sub"
    assert exit_code(_argv(command, out, run_dir)) == 2
    _one_line_error(capsys, f"--out: {out}: {tmp_path / 'file'} is a file, not a folder")


@pytest.mark.parametrize("command", ["eval", "count", "latency"])
def test_a_folder_as_out_file_is_one_line(command, run_dir, tmp_path, capsys):
    out = tmp_path / "folder"
    out.mkdir()
    assert exit_code(_argv(command, out, run_dir)) == 2
    _one_line_error(capsys, f"error: --out: {out}: is a folder; give a file name")
    assert list(tmp_path.iterdir()) == [out] and list(out.iterdir()) == []


@pytest.fixture
def readonly(tmp_path, monkeypatch, sim_dir):
    """A folder with mode 0555 holding a ``subnets.csv`` (something ``plot`` could draw). Root
    ignores modes, so under root ``os.access`` answers for this folder as it would for
    another user."""
    ro = tmp_path / "ro"
    ro.mkdir()
    shutil.copy(sim_dir / "subnets.csv", ro / "subnets.csv")
    ro.chmod(0o555)
    if os.geteuid() == 0:
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: (
            Path(p).absolute() != ro and real(p, mode, **kw)))
    yield ro
    ro.chmod(0o755)


@pytest.mark.parametrize("command, target, message", [
    ("count", "ro/counts.csv", "cannot create it: {ro} is not writable"),
    ("simulate", "ro", "{ro}: folder is not writable"),
    ("simulate", "ro/sim", "cannot create it: {ro} is not writable"),
    ("sweep", "ro", "{ro}: folder is not writable"),
    ("train", "ro/run", "cannot create it: {ro} is not writable"),
    ("quantize", "ro/q", "cannot create it: {ro} is not writable"),
    ("plot", "ro", "dir: {ro}: folder is not writable"),
])
def test_a_read_only_folder_is_one_line(command, target, message, readonly, run_dir, capsys):
    before = _listing(readonly)
    assert exit_code(_argv(command, readonly.parent / target, run_dir)) == 2
    _one_line_error(capsys, message.format(ro=readonly))
    assert _listing(readonly) == before


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("command, target, named", [
    ("count", "/proc/pimsim.csv", "/proc/pimsim.csv"), ("simulate", "/proc/pimsim", "/proc/pimsim"),
    ("sweep", "/proc/pimsim/s", "/proc/pimsim"),  # the folder on the way that cannot be made
    ("train", "/proc/pimsim", "/proc/pimsim"), ("eval", "/proc/pimsim.csv", "/proc/pimsim.csv")])
def test_a_location_nobody_may_write_is_one_line(command, target, named, run_dir, capsys):
    """/proc refuses new files even to root, where the mode bits of a folder do not."""
    assert exit_code(_argv(command, Path(target), run_dir)) == 2
    _one_line_error(capsys, f"error: --out: {named}: ")


# -- a full disk --------------------------------------------------------------------------------


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _partial_then_full(write_some):
    """A writer that writes a little of its file, then finds the disk full."""
    def write(*args, **kwargs):
        write_some(*args)
        _disk_full()
    return write


@pytest.fixture
def full_disk(monkeypatch):
    """Every CSV, byte file (checkpoints, states, npz) and figure write fails half-way."""
    import matplotlib.figure

    monkeypatch.setattr(pd.DataFrame, "to_csv", _partial_then_full(
        lambda self, path, *a: Path(path).write_text("subnet,ma")))
    real_write_bytes = Path.write_bytes
    monkeypatch.setattr(Path, "write_bytes", _partial_then_full(
        lambda self, data: real_write_bytes(self, data[:100])))
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", _partial_then_full(
        lambda self, path, *a: Path(path).write_bytes(b"")))


@pytest.mark.parametrize("command, target, left", [
    ("count", "out/counts.csv", set()), ("simulate", "out/sim", set()),
    ("quantize", "out/q", set()), ("eval", "out/eval.csv", set()),
    ("train", "out/run", {"run"}),  # the run folder, empty: no epoch was saved
    # the sweep's identity, written whole before any point (a rerun resumes from it)
    # the sweep's lock file stays (removing it would race with a waiting sweep)
    ("sweep", "out/sweep", {"sweep", "sweep/points", "sweep/sweep.json", "sweep/.lock"})])
def test_a_full_disk_is_one_line_and_leaves_nothing(command, target, left, run_dir, tmp_path,
                                                     capsys, full_disk):
    (tmp_path / "out").mkdir()
    assert exit_code(_argv(command, tmp_path / target, run_dir)) == 2
    _one_line_error(capsys, f"--out: {tmp_path / target}", "No space left on device")
    assert set(_listing(tmp_path / "out")) == left


def test_a_full_disk_leaves_no_empty_figure(sim_dir, tmp_path, capsys, full_disk):
    folder = tmp_path / "plots"
    shutil.copytree(sim_dir, folder)
    before = _listing(folder)
    assert exit_code(["plot", str(folder)]) == 2
    _one_line_error(capsys, f"dir: {folder}/", ".png", "No space left on device")
    assert _listing(folder) == before


def test_quantize_into_a_folder_in_use_keeps_its_files_on_failure(run_dir, tmp_path, capsys,
                                                                    full_disk):
    out = tmp_path / "q"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    assert exit_code(_argv("quantize", out, run_dir)) == 2
    _one_line_error(capsys, "No space left on device")
    assert _listing(tmp_path) == {"q": _listing(tmp_path)["q"], "q/notes.txt": 4}


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".", "", "/etc/x", "a\\b"])
def test_names_from_files_never_leave_their_folder(name, tmp_path):
    with pytest.raises(PimsimError, match="not a plain file name"):
        child(tmp_path, name, ".pt")
    assert child(tmp_path, "w0.5", ".pt") == tmp_path / "w0.5.pt"


def test_write_atomic_names_the_file_and_removes_its_temporary(tmp_path, monkeypatch):
    monkeypatch.setattr(Path, "write_text", _disk_full)
    with pytest.raises(OSError) as info:
        write_text_atomic(tmp_path / "a.txt", "x")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(tmp_path / "a.txt")
    assert list(tmp_path.iterdir()) == []


# -- last resort ------------------------------------------------------------------------------


def test_an_os_error_anywhere_is_one_line_but_bugs_still_raise(monkeypatch, capsys):
    import pimsim.commands.count as count

    def unreadable(args):
        raise PermissionError(errno.EACCES, "Permission denied", "/data/x.bin")

    monkeypatch.setattr(count, "run", unreadable)
    assert exit_code(["count"]) == 2
    assert _one_line_error(capsys) == "pimsim count: error: /data/x.bin: Permission denied"

    def bug(args):
        raise ZeroDivisionError("a programming error")

    monkeypatch.setattr(count, "run", bug)
    with pytest.raises(ZeroDivisionError):
        main(["count"])


# -- checkpoints and states ---------------------------------------------------------------------


class _Evil:
    def __reduce__(self):
        return os.system, (f"touch {Path.cwd() / 'PWNED'}",)


def _corrupt(kind: str, path: Path, good: Path) -> None:
    data = good.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "text":
        path.write_text("epoch,loss\n1,0.5\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "overwritten":  # 4 kB of garbage in the middle
        mid = len(data) // 2
        garbage = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
        path.write_bytes(data[:mid] + garbage + data[mid + 4096:])
    elif kind == "pickle":  # a plain pickle that would run a command
        path.write_bytes(pickle.dumps({"state_dict": _Evil()}, protocol=2))
    elif kind == "crafted":  # a torch zip whose data.pkl would run a command
        torch.save({"format": "pimsim.checkpoint", "x": _Evil()}, path)
    elif kind == "foreign":
        torch.save([1, 2, 3], path)
    elif kind == "wrong-types":  # well formed and sealed, nonsense inside
        loaded = torch.load(good, weights_only=True)
        if "state_dict" in loaded:
            loaded |= {"num_classes": "ten", "state_dict": {"w": 3}}
        else:
            loaded |= {"current": {"model": 5}, "done": {"x": []}}
        save_sealed(path, loaded)
    else:
        raise AssertionError(kind)


KINDS = ["truncated", "text", "empty", "overwritten", "pickle", "crafted", "foreign",
         "wrong-types"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", ["eval", "simulate", "quantize", "latency"])
def test_a_bad_checkpoint_is_one_line_naming_it(command, kind, run_dir, tmp_path, capsys,
                                                monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "model.pt"
    _corrupt(kind, bad, run_dir / "model.pt")
    argv = {"eval": ["eval", "--checkpoint", str(bad)],
            "simulate": ["simulate", "--checkpoint", str(bad), "--bits", "8",
                         "--out", str(tmp_path / "sim")],
            "quantize": ["quantize", "--checkpoint", str(bad), "--bits", "8",
                         "--out", str(tmp_path / "q")],
            "latency": ["latency", "--checkpoint", str(bad), "--out", str(tmp_path / "l.csv")],
            }[command]
    assert exit_code(argv) == 2
    _one_line_error(capsys, f"error: {bad}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]  # no output, no PWNED


@pytest.mark.parametrize("kind", KINDS)
def test_a_bad_state_is_one_line_on_resume(kind, run_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    shutil.copytree(run_dir, out)
    _corrupt(kind, out / "state.pt", run_dir / "state.pt")
    before = _listing(out)
    assert exit_code([*TRAIN, "--out", str(out), "--resume"]) == 2
    _one_line_error(capsys, f"error: {out / 'state.pt'}: ")
    assert _listing(out) == before and not (tmp_path / "PWNED").exists()


def test_checkpoints_and_states_carry_a_checksum_and_old_files_still_load(run_dir, tmp_path):
    from pimsim.train import load_checkpoint

    for name in ("model.pt", "state.pt"):
        data = torch.load(run_dir / name, weights_only=True)
        assert len(data["sha256"]) == 64
    old = torch.load(run_dir / "model.pt", weights_only=True)
    del old["sha256"]  # as written before checksums
    torch.save(old, tmp_path / "old.pt")
    model, _ = load_checkpoint(tmp_path / "old.pt")
    good, _ = load_checkpoint(run_dir / "model.pt")
    a, b = model.state_dict(), good.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    one_weight = dict(old)
    one_weight["state_dict"] = dict(old["state_dict"])
    key = next(k for k, v in one_weight["state_dict"].items() if v.is_floating_point())
    one_weight["state_dict"][key] = one_weight["state_dict"][key] + 1e-6
    torch.save({**one_weight, "sha256": torch.load(run_dir / "model.pt",
                                                   weights_only=True)["sha256"]},
               tmp_path / "edited.pt")
    with pytest.raises(PimsimError, match=r"edited\.pt: sha256: content does not match"):
        load_checkpoint(tmp_path / "edited.pt")


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("q") / "q"
    assert main(_argv("quantize", out, run_dir)) == 0
    return out


@pytest.mark.parametrize("damage, message", [
    ("npz-overwritten", r"w1\.npz: does not match arrays_sha256 in w1\.json"),
    ("npz-truncated", r"w1\.npz: does not match arrays_sha256"),
    ("json-number", r"w1\.json: sha256: content does not match its checksum"),
    ("json-truncated", r"w1\.json: malformed JSON"),
    ("json-arrays-path", r"w1\.json: arrays: must be a file name beside the manifest"),
])
def test_integer_exports_are_verified(damage, message, exported, tmp_path):
    import json

    from pimsim.quantize.manifest import manifest_sha256

    shutil.copytree(exported, tmp_path / "q")
    npz, manifest = tmp_path / "q" / "w1.npz", tmp_path / "q" / "w1.json"
    assert IntGraph.load(manifest).name  # intact: loads
    if damage.startswith("npz"):
        _corrupt(damage.split("-")[1], npz, npz)
    elif damage == "json-number":
        manifest.write_text(manifest.read_text().replace('"bits": 8', '"bits": 16', 1))
    elif damage == "json-truncated":
        manifest.write_text(manifest.read_text()[:1000])
    else:
        doc = json.loads(manifest.read_text())
        doc["arrays"] = "../../w1.npz"
        doc["sha256"] = manifest_sha256(doc)
        manifest.write_text(json.dumps(doc))
    with pytest.raises(PimsimError, match=message):
        IntGraph.load(manifest)


# -- file modes -------------------------------------------------------------------------------


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_files_and_folders_honour_the_umask(tmp_path, umask_022, capsys):
    from pimsim.network import DynamicNet, SubnetSpec
    from pimsim.train import save_checkpoint

    assert main(["simulate", *COST_ONLY, "--out", str(tmp_path / "sim")]) == 0
    assert main(["count", "--input-size", "8", "--out", str(tmp_path / "new" / "c.csv")]) == 0
    save_checkpoint(tmp_path / "model.pt", DynamicNet("resnet20", 2, 1, [SubnetSpec.uniform(1)]),
                    (8, 8), "synthetic")
    modes = {str(p.relative_to(tmp_path)): p.stat().st_mode & 0o777
             for p in tmp_path.rglob("*")}
    assert modes == {"sim": 0o755, "sim/subnets.csv": 0o644, "sim/layers.csv": 0o644,
                     "sim/summary.md": 0o644, "sim/config.json": 0o644, "new": 0o755,
                     "new/c.csv": 0o644, "model.pt": 0o644}
    os.umask(0o007)
    assert main(["count", "--input-size", "8", "--out", str(tmp_path / "group.csv")]) == 0
    assert (tmp_path / "group.csv").stat().st_mode & 0o777 == 0o660


@pytest.mark.slow
def test_every_commands_outputs_honour_the_umask(run_dir, tmp_path, umask_022, capsys):
    assert main([*TRAIN, "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    assert main(_argv("quantize", tmp_path / "q", run_dir)) == 0
    assert main(["simulate", *COST_ONLY, "--out", str(tmp_path / "sim")]) == 0
    assert main(["sweep", *COST_ONLY, "--quiet", "--out", str(tmp_path / "sweep")]) == 0
    assert main(["count", "--input-size", "8", "--out", str(tmp_path / "c.csv")]) == 0
    assert main(["plot", str(tmp_path / "sim")]) == 0
    modes = {str(p.relative_to(tmp_path)): p.stat().st_mode & 0o777
             for p in tmp_path.rglob("*")}
    expected = {p: 0o755 if (tmp_path / p).is_dir() else 0o644 for p in modes}
    assert modes == expected
    assert {"run/state.pt", "run/model.pt", "q/w1.npz", "sweep/sweep.csv", "c.csv",
            "sim/pareto.png"} <= set(modes)


# -- a killed training run resumes exactly ----------------------------------------------------


@pytest.mark.slow
def test_a_killed_training_run_resumes_to_the_same_results(tmp_path):
    """SIGKILL a training process at a random moment after its first epoch (mid-epoch or
    mid-write); ``--resume`` then ends with the files of an uninterrupted run."""
    argv = [*TRAIN, "--epochs", "6"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the killed process (numba kernels run by earlier tests in
    try:                      # this process may have changed it, and with it the last bits)
        _kill_and_resume(tmp_path, argv)
    finally:
        torch.set_num_threads(threads)


def _kill_and_resume(tmp_path: Path, argv: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert main([*argv, "--out", str(full)]) == 0
    delay = np.random.default_rng().uniform(0, 0.5)
    proc = subprocess.Popen([sys.executable, "-m", "pimsim", *argv, "--out", str(cut)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (cut / "state.pt").exists() and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"finished before the kill (delay {delay:.2f} s)"
    assert not (cut / "results.csv").exists()
    assert main([*argv, "--out", str(cut), "--resume"]) == 0
    for name in ("results.csv", "subnets.yaml"):
        assert (cut / name).read_bytes() == (full / name).read_bytes(), name
    a = torch.load(full / "model.pt", weights_only=True)
    b = torch.load(cut / "model.pt", weights_only=True)
    differ = [k for k in a["state_dict"] if not torch.equal(a["state_dict"][k],
                                                           b["state_dict"][k])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:3]} (delay {delay:.2f} s)"
    assert a["sha256"] == b["sha256"]  # the whole content, every tensor bit for bit
    log_a = pd.read_csv(full / "train_log.csv").drop(columns="wall_s")
    pd.testing.assert_frame_equal(log_a, pd.read_csv(cut / "train_log.csv").drop(columns="wall_s"))
