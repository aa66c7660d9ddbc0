"""The column dictionary covers every column of every CSV the commands write, and
docs/columns.md is the one generated from it."""

from pathlib import Path

import pandas as pd
import pytest

from pimsim.commands import main
from pimsim.device.events import SUBARRAY_EVENTS
from pimsim.mapper.cost import CHIP_EVENTS, EVENTS, energy_column
from pimsim.reports.columns import COLUMNS, FILES, lookup, markdown

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, Path]:
    """Every CSV of FILES, written by the commands on tiny inputs (a 1-epoch 8-bit run on 60
    digits test images)."""
    d = tmp_path_factory.mktemp("columns")
    run = d / "train"
    assert main(["train", "--method", "single-path", "--budgets", "0.5,1.0", "--bits", "8",
                 "--epochs", "1", "--out", str(run), "--quiet"]) == 0
    ckpt = str(run / "model.pt")
    assert main(["quantize", "--checkpoint", ckpt, "--out", str(d / "q")]) == 0
    assert main(["simulate", "--checkpoint", ckpt, "--limit", "20", "--out", str(d / "sim")]) == 0
    assert main(["sweep", "--checkpoint", ckpt, "--limit", "20", "--bits", "8",
                 "--device-params", "sot_mram_45nm,sram_45nm", "--set", "chip.rows=128,256",
                 "--out", str(d / "sw"), "--quiet"]) == 0
    assert main(["latency", "--checkpoint", ckpt, "--repeats", "3", "--max-rounds", "1",
                 "--out", str(d / "latency.csv")]) == 0
    assert main(["eval", "--checkpoint", ckpt, "--limit", "20", "--out", str(d / "eval.csv")]) == 0
    return {"results.csv": run / "results.csv", "train_log.csv": run / "train_log.csv",
            "quantize.csv": d / "q" / "quantize.csv", "subnets.csv": d / "sim" / "subnets.csv",
            "layers.csv": d / "sim" / "layers.csv", "sweep.csv": d / "sw" / "sweep.csv",
            "latency.csv": d / "latency.csv", "eval.csv": d / "eval.csv"}


# faults.csv, adapt.csv and gating.csv are checked by the end-to-end tests that write them
# (tests/test_faults.py, tests/test_adapt.py, tests/test_adapt_saved.py)
WRITTEN_HERE = [f for f in FILES if f not in ("faults.csv", "adapt.csv", "gating.csv")]


@pytest.mark.slow
@pytest.mark.parametrize("name", WRITTEN_HERE)
def test_every_written_column_is_in_the_dictionary_for_its_file(outputs, name):
    columns = pd.read_csv(outputs[name]).columns
    unknown = [c for c in columns if lookup(c) is None]
    misfiled = [c for c in columns if lookup(c) is not None and name not in lookup(c).files]
    assert unknown == [] and misfiled == [], (unknown, misfiled)


def test_event_columns_come_from_the_event_tables():
    for kind in EVENTS:
        assert lookup(energy_column(kind)).unit == "pJ"
    for kind in SUBARRAY_EVENTS:
        assert lookup(kind.count_field).meaning.lower() == kind.counts.lower()
    for kind in CHIP_EVENTS:
        if kind.latency_column:
            assert lookup(kind.latency_column).unit == "ns"


def test_dictionary_is_well_formed():
    names = [c.name for c in COLUMNS]
    assert len(names) == len(set(names))
    assert all(c.meaning and set(c.files) <= set(FILES) and c.files for c in COLUMNS)
    assert lookup("chip.rows").name == lookup("mtj.tmr_ratio").name == "GROUP.KEY"
    assert lookup("top1") is None and lookup("device") is None and lookup("median_ms") is None
    # the vocabulary: accuracy names say what ran; memory preset vs family vs cpu/cuda
    assert {"top1_float", "top1_fakequant", "top1_int", "top1_pim", "val_top1_float",
            "technology", "memory_type", "compute_device"} <= set(names)


def test_docs_columns_md_is_the_generated_one():
    assert (ROOT / "docs" / "columns.md").read_text() == markdown(), \
        "regenerate: python -m pimsim.reports.columns > docs/columns.md"
