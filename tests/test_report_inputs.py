"""Result CSVs given back to pimsim (``plot``, ``select``, ``read_table``): a foreign,
header-only, all-infeasible or corrupted table is a one-line error naming the file and the
column (``plot`` skips only the figures it cannot draw), never another exception."""

import csv
import math
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pimsim.errors import PimsimError
from pimsim.reports import plots
from pimsim.reports.pareto import pareto_front, select_within_budget
from pimsim.reports.tables import read_table, require_columns
from tests.conftest import exit_code

LATENCY = ("subnet,compute_device,batch,latency_per_image_ms,top1_float\nw1,cpu,1,2.0,0.9\n"
           "w0.5,cpu,1,1.0,0.8\n")
SUBNETS = ("subnet,macs,energy_per_image_uj,latency_ns,top1_pim,area_mm2,family_area_mm2,"
           "weight_bits\nw1,1000,2.0,50,0.9,1.0,2.0,800\nw0.5,300,1.0,20,0.8,0.5,2.0,200\n")


def _folder(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    for name, text in files.items():
        (folder / f"{name}.csv").write_text(text)
    return folder


def _one_line_error(capsys, argv: list[str], *expected: str) -> str:
    assert exit_code(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    for text in expected:
        assert text in err, err
    return err


@pytest.mark.parametrize("text, expected", [
    ("name,score\na,1\n", "latency.csv: column 'latency_per_image_ms': missing"),  # foreign
    (LATENCY.split("\n")[0] + "\n", "latency.csv: no rows"),  # header only
    (LATENCY.replace("2.0", "fast"),
     "column 'latency_per_image_ms': row 1: 'fast' is not a finite number"),
    (LATENCY.replace("0.8", ""), "column 'top1_float': row 2: nan is not a finite number"),
    (LATENCY.replace("2.0", "inf"),
     "column 'latency_per_image_ms': row 1: inf is not a finite number"),
    (LATENCY.replace("w0.5", ""), "column 'subnet': row 2: empty"),
    ("", "latency.csv: not a readable CSV (EmptyDataError)"),
])
def test_select_names_the_file_and_column(tmp_path, capsys, text, expected):
    folder = _folder(tmp_path, latency=text)
    _one_line_error(capsys, ["select", str(folder), "--budget-ms", "1.5"], expected)


def test_select_on_a_good_table_and_a_nan_budget(tmp_path, capsys):
    folder = _folder(tmp_path, latency=LATENCY, subnets=SUBNETS)
    assert exit_code(["select", str(folder), "--budget-ms", "1.5"]) == 0
    assert capsys.readouterr().out.startswith("w0.5: top1_float 80.00 %")
    assert exit_code(["select", str(folder), "--budget-uj", "5"]) == 0
    assert capsys.readouterr().out.startswith("w1: top1_pim 90.00 %")
    _one_line_error(capsys, ["select", str(folder), "--budget-ms", "nan"],
                    "budget: must be a finite number, got nan")


def test_plot_of_an_all_infeasible_sweep_is_a_one_line_error(tmp_path, capsys):
    sweep = ("subnet,bits,technology,infeasible,macs,energy_per_image_uj,latency_ns\n"
             "w1,8,sot_mram_45nm,the chip has 128 sub-arrays,1000,,\n"
             "w0.5,8,sot_mram_45nm,the chip has 128 sub-arrays,300,,\n")
    folder = _folder(tmp_path, sweep=sweep)
    _one_line_error(capsys, ["plot", str(folder)],
                    "sweep.csv: every point is infeasible (first: the chip has 128")
    assert not list(folder.glob("*.png")) and not list(folder.glob(".*"))


@pytest.mark.parametrize("text, expected", [
    ("name,score\na,1\n", "sweep.csv: column 'energy_per_image_uj': missing"),
    ("subnet,macs,energy_per_image_uj\n", "sweep.csv: no rows"),
    ("subnet,macs,energy_per_image_uj\nw1,1000,cheap\n",
     "column 'energy_per_image_uj': row 1: 'cheap' is not a finite number"),
    ("subnet,macs,energy_per_image_uj\nw1,,1.0\n", "column 'macs': row 1: nan is not"),
])
def test_plot_with_nothing_drawable_names_file_and_column(tmp_path, capsys, text, expected):
    folder = _folder(tmp_path, sweep=text)
    _one_line_error(capsys, ["plot", str(folder)], "nothing to plot", expected)
    assert not list(folder.glob("*.png"))


def test_plot_skips_only_the_figure_it_cannot_draw(tmp_path, capsys):
    folder = _folder(tmp_path, subnets=SUBNETS, latency=LATENCY.replace("0.9", "high"))
    assert exit_code(["plot", str(folder)]) == 0
    captured = capsys.readouterr()
    drawn = {Path(line).stem for line in captured.out.split()}
    assert drawn == {"pareto", "latency_accuracy", "area_memory"}
    assert captured.err.strip() == ("note: skipped measured_latency: "
                                    f"{folder / 'latency.csv'}: column 'top1_float': row 1: "
                                    "'high' is not a finite number")


def test_read_table_and_require_columns():
    with pytest.raises(PimsimError, match="not found"):
        read_table("/nonexistent/x.csv")
    with pytest.raises(PimsimError, match="a folder, not a CSV file"):
        read_table(Path(__file__).parent)
    table = pd.DataFrame({"subnet": ["a", "b"], "x": ["1", "2.5"]})
    checked = require_columns(table, numeric=["x"], text=["subnet"])
    assert checked.x.tolist() == [1.0, 2.5] and table.x.tolist() == ["1", "2.5"]
    with pytest.raises(PimsimError, match=r"^table: column 'y': missing$"):
        require_columns(table, numeric=["y"])
    assert pareto_front(table, "x", "x").subnet.tolist() == ["a", "b"]
    with pytest.raises(PimsimError, match=r"column 'subnet': row 1: 'a' is not a finite"):
        pareto_front(table, "x", "subnet")


# -- fuzz: random CSVs ---------------------------------------------------------------------

REAL = ["subnet", "top1_float", "top1_pim", "latency_per_image_ms", "energy_per_image_uj",
        "latency_ns", "macs", "infeasible", "technology", "bits", "area_mm2", "family_area_mm2",
        "weight_bits", "layer", "compute_device", "batch", "memory_type", "chip.rows",
        "energy_and2_pj", "energy_bus_pj"]
CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(0.01, 1e6).map(repr),
    st.integers(-5, 10**6).map(str),
    st.sampled_from(["", "nan", "inf", "-inf", "w1", "w0.5", "sot_mram", "sram", "x,y", '"']),
    st.text(max_size=6),
)
TABLES = st.lists(st.sampled_from(REAL + ["name", "score", ""]), min_size=0, max_size=8,
                  unique=True).flatmap(lambda cols: st.tuples(
                      st.just(cols), st.lists(st.lists(CELLS, min_size=len(cols),
                                                       max_size=len(cols)), max_size=5)))

TEXT = {"subnet": ["w1", "w0.5", "w0.25"], "technology": ["sot_mram_45nm", "sram_45nm"],
        "memory_type": ["sot_mram", "sram"], "layer": ["conv1", "fc"], "compute_device": ["cpu"],
        "infeasible": ["", "", "too big"]}


def _cell(column: str) -> st.SearchStrategy[str]:
    """A sensible value of ``column``, one time in 20 anything."""
    good = (st.sampled_from(TEXT[column]) if column in TEXT
            else st.one_of(st.floats(0.01, 1e6).map(repr), st.integers(1, 10**6).map(str)))
    return st.integers(0, 19).flatmap(lambda i: CELLS if i == 0 else good)


# tables that have what a figure needs, with an occasional bad cell
NEAR_VALID = st.lists(st.sampled_from(REAL), max_size=8, unique=True).flatmap(
    lambda extra: (lambda cols: st.tuples(st.just(cols), st.lists(
        st.tuples(*[_cell(c) for c in cols]).map(list), min_size=1, max_size=5)))(
        list(dict.fromkeys(["subnet", "energy_per_image_uj", "macs", *extra]))))


def _write(path: Path, table: tuple[list[str], list[list[str]]] | str) -> None:
    if isinstance(table, str):
        path.write_text(table)
        return
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(table[0])
        writer.writerows(table[1])


def _draw_only(fig, out, name):
    """``plots.save_figure`` without files: lay out and render (what saving would do)."""
    try:
        fig.tight_layout()
        fig.canvas.draw()
    finally:
        plots.plt.close(fig)
    return [out / name]


@settings(max_examples=50, deadline=None)
@given(table=st.one_of(NEAR_VALID, TABLES, st.text(max_size=40)),
       budget=st.floats(allow_nan=True, allow_infinity=True),
       cost=st.sampled_from(["latency_per_image_ms", "energy_per_image_uj"]),
       value=st.sampled_from(["top1_float", "top1_pim"]))
def test_fuzz_read_table_and_select(table, budget, cost, value):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        _write(path, table)
        try:
            row = select_within_budget(read_table(path), budget, cost, value)
        except PimsimError as exc:
            assert "\n" not in str(exc)
            return
        assert math.isfinite(budget) and float(row[cost]) <= budget


FOLDERS = st.dictionaries(st.sampled_from(["sweep", "subnets", "layers", "latency"]),
                          st.one_of(NEAR_VALID, TABLES, st.text(max_size=40)),
                          min_size=1, max_size=3)


def _check_plot_dir(files: dict) -> None:
    """``plot_dir`` of a folder of random CSVs: written figures (notes one line each) or one
    PimsimError line, nothing else."""
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setattr(plots, "save_figure", _draw_only)
        for name, table in files.items():
            _write(Path(tmp) / f"{name}.csv", table)
        try:
            written = plots.plot_dir(tmp, note=notes.append)
        except PimsimError as exc:
            assert "\n" not in str(exc)
            return
        assert written and all("\n" not in n for n in notes)
        event(f"{len(written)} figures")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=FOLDERS)
def test_fuzz_plot_dir(files):
    _check_plot_dir(files)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=FOLDERS)
def test_fuzz_plot_dir_long(files):
    _check_plot_dir(files)


def test_runtime_switching_checks_its_table():
    from pimsim.network import DynamicNet, SubnetSpec
    from pimsim.reports.runner import DynamicRunner

    model = DynamicNet("resnet20", 10, 1, [SubnetSpec.uniform(1.0), SubnetSpec.uniform(0.25)])
    with pytest.raises(PimsimError, match="^table: column 'subnet': missing$"):
        DynamicRunner(model, pd.DataFrame({"name": ["w1"]}))
    table = pd.DataFrame({"subnet": ["w1", "w0.25"], "top1_float": [0.98, 0.95],
                          "latency_per_image_ms": [2.0, "slow"],
                          "energy_per_image_uj": [3.0, 1.0]})
    runner = DynamicRunner(model, table)
    assert runner.set_budget(energy_uj=2) == "w0.25"
    with pytest.raises(PimsimError,
                       match="column 'latency_per_image_ms': row 2: 'slow' is not a finite"):
        runner.set_budget(latency_ms=5, energy_uj=2)
