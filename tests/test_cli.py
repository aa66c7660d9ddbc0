"""End to end through the ``pimsim`` command (in-process), and its one-line errors."""

import pandas as pd
import pytest
import torch

from pimsim.commands import main
from pimsim.train import load_checkpoint
from pimsim.train.checkpoint import save_sealed
from tests.conftest import exit_code


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--model", "resnet20", "--widths", "0.25,1.0", "--epochs", "3",
                 "--out", str(out), "--quiet"]) == 0
    return out


def test_train_writes_checkpoint_and_log(trained):
    log = pd.read_csv(trained / "train_log.csv")
    assert set(log.columns) >= {"epoch", "subnet", "train_loss", "val_top1_float"}
    assert sorted(log.subnet.unique()) == ["w0.25", "w1"] and log.epoch.max() == 3
    first, last = (log[log.epoch == e].train_loss.mean() for e in (1, 3))
    assert last < first
    model, meta = load_checkpoint(trained / "model.pt")
    assert [s.name for s in model.subnets] == ["w1", "w0.25"]
    assert meta["meta"]["train_config"]["epochs"] == 3
    assert not list(trained.glob(".*.tmp"))


def test_eval_reports_every_subnet(trained, tmp_path, capsys):
    csv = tmp_path / "eval.csv"
    assert main(["eval", "--checkpoint", str(trained / "model.pt"), "--out", str(csv)]) == 0
    table = pd.read_csv(csv)
    assert list(table.columns[:1]) == ["subnet"] and {"macs", "params", "top1_float"} <= set(table)
    # 3 epochs on digits learn far beyond chance (0.1)
    assert table.top1_float.min() > 0.5
    assert table.set_index("subnet").macs["w1"] > table.set_index("subnet").macs["w0.25"]
    assert "w0.25" in capsys.readouterr().out


@pytest.mark.slow
def test_training_is_deterministic(trained, tmp_path):
    assert main(["train", "--widths", "0.25,1.0", "--epochs", "3", "--out", str(tmp_path),
                 "--quiet"]) == 0
    a = torch.load(trained / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("argv, message", [
    (["train", "--dataset", "mnist", "--out", "OUT"], "--dataset: unknown data set 'mnist'"),
    (["train", "--dataset", "cifar10", "--data-dir", "MISSING", "--out", "OUT"],
     "CIFAR-10 directory not found"),
    (["train", "--widths", "0.5,1.5", "--out", "OUT"], "--widths: 1.5 is outside (0, 1]"),
    (["train", "--device", "tpu", "--out", "OUT"], "--device: unknown device 'tpu'"),
    (["eval", "--checkpoint", "MISSING"], "checkpoint not found"),
    (["eval", "--checkpoint", "GARBAGE"], "not a torch checkpoint"),
    (["eval", "--checkpoint", "FOREIGN"], "format: not a pimsim checkpoint"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    (tmp_path / "GARBAGE").write_bytes(b"not a checkpoint")
    torch.save({"state_dict": {}}, tmp_path / "FOREIGN")
    argv = [str(tmp_path / a) if a in ("OUT", "MISSING", "GARBAGE", "FOREIGN") else a
            for a in argv]
    assert exit_code(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "OUT").exists()


def test_checkpoint_of_another_model_is_refused(trained, tmp_path, capsys):
    data = torch.load(trained / "model.pt", weights_only=True)
    data["arch"] = "resnet32"
    save_sealed(tmp_path / "other.pt", data)  # edited, checksum renewed
    assert main(["eval", "--checkpoint", str(tmp_path / "other.pt")]) == 2
    assert "state_dict: does not match resnet32" in capsys.readouterr().err


def test_count_and_help(capsys):
    assert main(["count", "--model", "resnet20", "--widths", "0.5,1"]) == 0
    assert "10314048" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    assert info.value.code == 0
