"""Fault injection in the bit-serial kernel, the ``pimsim faults`` run and selection under an
error budget."""

import math

import numpy as np
import pandas as pd
import pytest

from pimsim.commands import main
from pimsim.device import bitserial_conv2d, bitserial_linear, conv2d_int64
from pimsim.device.faults import FaultInjector
from pimsim.device.variation import FaultRates
from pimsim.errors import PimsimError
from pimsim.reports.faults import FaultsConfig, run_faults, select_under_error_budget

Z = 3.29  # two-sided 99.9 % normal quantile


def _layer(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (2, 8, 12, 12)), rng.integers(-128, 128, (6, 8, 3, 3))


def test_zero_error_probability_is_the_exact_result_bit_for_bit():
    x, w = _layer()
    exact = conv2d_int64(x, w, 1, 1)
    injector = FaultInjector(FaultRates(), seed=5)
    out, events = bitserial_conv2d(x, w, padding=1, faults=injector)
    assert np.array_equal(out, exact)
    assert events == bitserial_conv2d(x, w, padding=1)[1]
    assert injector.sensed_bits == 0  # the fault path never ran


def test_fixed_seed_reproduces_the_faulty_result():
    x, w = _layer()
    rates = FaultRates((1e-4, 1e-3, 5e-4), 1e-4, 0.01)
    runs = [bitserial_conv2d(x, w, padding=1, faults=FaultInjector(rates, seed=s))[0]
            for s in (7, 7, 8)]
    exact = conv2d_int64(x, w, 1, 1)
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], exact) and not np.array_equal(runs[0], runs[2])


def _binomial_ok(count: int, n: int, p: float) -> bool:
    return abs(count - n * p) <= Z * math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("p", [1e-4, 3e-3])
@pytest.mark.parametrize("ones", [False, True])
def test_injected_rate_gives_a_measured_flip_rate_in_the_binomial_interval(p, ones):
    """1-bit unsigned planes: each output is a count of sensed ones, so the output minus the
    exact one is (0 -> 1 flips) - (1 -> 0 flips); with all-zero (all-one) activations and
    weights every sensed bit is 0 (1), so it counts every flip."""
    x = np.full((3, 32, 10, 10), int(ones))
    w = np.full((16, 32, 3, 3), int(ones))
    rates = FaultRates((p, 0.0, p) if ones else (p, 0.0, 0.0))  # AP count 2 or 0
    injector = FaultInjector(rates, seed=1)
    out, _ = bitserial_conv2d(x, w, x_bits=1, w_bits=1, w_signed=False, faults=injector)
    flips = int(abs((out - conv2d_int64(x, w)).sum()))
    n = injector.sensed_bits
    assert n == 16 * 32 * 9 * 3 * 8 * 8  # no padding: every sensed bit is 0 (1)
    assert flips == injector.sense_flips and _binomial_ok(flips, n, p)


def test_state_dependent_rates_and_write_errors():
    """Ones ANDed with zeros (one AP cell) flip at and2[1]; a wrong activation write flips every
    AND of that stored bit with a set weight bit."""
    x = np.zeros((2, 16, 8, 8), np.int64)
    w = np.ones((4, 16, 1, 1), np.int64)
    injector = FaultInjector(FaultRates((0.0, 0.02, 0.0)), seed=2)
    out, _ = bitserial_conv2d(x, w, x_bits=1, w_bits=1, w_signed=False, faults=injector)
    assert _binomial_ok(int(out.sum()), injector.sensed_bits, 0.02)
    injector = FaultInjector(FaultRates(write=0.01), seed=3)
    out, _ = bitserial_linear(np.zeros((50, 64), np.int64), np.ones((8, 64), np.int64),
                              x_bits=1, w_bits=1, w_signed=False, faults=injector)
    # 8 channels share one sub-array: a wrong write adds 1 to all 8 outputs of its pixel.
    assert injector.written_bits == 50 * 64 and _binomial_ok(injector.write_flips, 3200, 0.01)
    assert int(out.sum()) == 8 * injector.write_flips and (out == out[:, :1]).all()


def test_stuck_cells_are_a_property_of_the_chip():
    x, w = _layer()
    rates = FaultRates(stuck_at_frac=0.2)
    injector = FaultInjector(rates, seed=4)
    w2d = w.reshape(6, -1)
    from pimsim.device.bitserial import plane_weights
    stuck = injector.stuck_weights(w2d, 8, plane_weights(8, True))
    assert stuck is injector.stuck_weights(w2d.copy(), 8, plane_weights(8, True))
    changed = ((stuck[..., None] >> np.arange(8)) & 1) != ((w2d[..., None] >> np.arange(8)) & 1)
    assert _binomial_ok(int(changed.sum()), changed.size, 0.1)  # half the stuck cells differ
    a, _ = bitserial_conv2d(x, w, padding=1, faults=injector)
    b, _ = bitserial_conv2d(x[:1], w, padding=1, faults=injector)
    assert np.array_equal(a[:1], b)


def test_bad_rates():
    with pytest.raises(PimsimError, match=r"write: must lie in \[0, 1\]"):
        FaultRates(write=1.5)
    with pytest.raises(PimsimError, match=r"and2: must lie in \[0, 1\]"):
        FaultRates((-0.1, 0.0, 0.0))


TABLE = pd.DataFrame({
    "subnet": ["w1", "w0.5", "w1", "w0.5"], "variation.sigma_rp": [0.05, 0.05, 0.1, 0.1],
    "top1_pim_mean": [0.97, 0.95, 0.93, 0.80], "energy_per_image_uj": [4.0, 1.0, 4.0, 1.0]})


def test_selection_under_an_error_budget():
    at = {"variation.sigma_rp": 0.05}
    assert select_under_error_budget(TABLE, at, 0.94).subnet == "w0.5"
    assert select_under_error_budget(TABLE, at, 0.96).subnet == "w1"
    assert select_under_error_budget(TABLE, {"variation.sigma_rp": 0.1}, 0.9).subnet == "w1"
    with pytest.raises(PimsimError, match=r"no sub-net keeps top-1 >= 0.95 .* \(best 0.9300\)"):
        select_under_error_budget(TABLE, {"variation.sigma_rp": 0.1}, 0.95)
    with pytest.raises(PimsimError, match="matches several points"):
        select_under_error_budget(TABLE, {}, 0.5)
    with pytest.raises(PimsimError, match="no column 'mtj.tmr_ratio'"):
        select_under_error_budget(TABLE, {"mtj.tmr_ratio": 1.0}, 0.5)


def test_dynamic_runner_error_budget():
    from pimsim.network import DynamicNet, SubnetSpec
    from pimsim.reports.runner import DynamicRunner

    model = DynamicNet("resnet20", 10, 1, [SubnetSpec.uniform(1.0), SubnetSpec.uniform(0.5)])
    simulated = pd.DataFrame({"subnet": ["w1", "w0.5"], "top1_pim": [0.98, 0.96],
                              "energy_per_image_uj": [4.0, 1.0]})
    runner = DynamicRunner(model, simulated)
    assert runner.set_error_budget(TABLE, {"variation.sigma_rp": 0.05}, 0.94) == "w0.5"
    assert model.active.name == "w0.5"
    assert runner.set_error_budget(TABLE, {"variation.sigma_rp": 0.1}, 0.9) == "w1"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from pimsim.train import TrainConfig, run_training

    out = tmp_path_factory.mktemp("faults_run")
    run_training(TrainConfig(widths=[0.5, 1.0], epochs=2, batch_size=64), out, quiet=True)
    return out / "model.pt"


@pytest.mark.slow
def test_faults_run_is_resumable_and_selects(checkpoint, tmp_path, capsys):
    out = tmp_path / "f"
    argv = ["faults", "--checkpoint", str(checkpoint), "--bits", "8", "--limit", "16",
            "--error-probs", "0,1e-5", "--trials", "2", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    table = pd.read_csv(out / "faults.csv")
    assert len(table) == 4 and (out / "faults.png").is_file()
    from pimsim.reports.columns import lookup

    undocumented = [c for c in table.columns
                    if lookup(c) is None or "faults.csv" not in lookup(c).files]
    assert undocumented == [], "add them to pimsim/reports/columns.py"
    clean = table[table.error_prob == 0]
    assert (clean.top1_pim_mean == clean.top1_int).all() and (clean.layer_error_rate == 0).all()
    noisy = table[table.error_prob == 1e-5]
    assert (noisy.layer_error_rate > 0).all() and (noisy.p_err_and2 == 1e-5).all()
    # Resumed: nothing recomputed, the same table.
    stamp = {p.name: p.stat().st_mtime_ns for p in (out / "points").iterdir()}
    assert main(argv) == 0
    assert stamp == {p.name: p.stat().st_mtime_ns for p in (out / "points").iterdir()}
    pd.testing.assert_frame_equal(pd.read_csv(out / "faults.csv"), table)
    capsys.readouterr()
    assert main(["select", str(out), "--min-top1", "0", "--at", "error_prob=0"]) == 0
    assert capsys.readouterr().out.startswith("w0.5: ")


@pytest.mark.slow
def test_faults_from_the_variation_model(checkpoint, tmp_path):
    cfg = FaultsConfig(checkpoint=str(checkpoint), bits=8, limit=8, trials=2,
                       subnets=("w0.5",), axes={"variation.sigma_rp": [0.02, 0.04],
                                                "mtj.tmr_ratio": [0.2, 0.9]})
    table = run_faults(cfg, tmp_path)
    # TMR 0.2: the AND2 margin (0.091) is below the sense amplifier's minimum
    low = table[table["mtj.tmr_ratio"] == 0.2]
    assert low.infeasible.str.contains("and2 sense margin 0.091").all()
    assert low.top1_pim_mean.isna().all()
    ok = table[table["mtj.tmr_ratio"] == 0.9].sort_values("variation.sigma_rp")
    assert list(ok["variation.sigma_rp"]) == [0.02, 0.04]
    assert ok.p_err_and2.iloc[1] > ok.p_err_and2.iloc[0] > 0
    assert (ok.technology == "sot_mram_45nm").all() and ok.infeasible.isna().all()
    assert select_under_error_budget(table, {"variation.sigma_rp": 0.02, "mtj.tmr_ratio": 0.9},
                                     0.0).subnet == "w0.5"


def test_faults_bad_input(tmp_path, capsys):
    base = ["faults", "--checkpoint", "none.pt", "--out", str(tmp_path / "o")]
    assert main(base + ["--error-probs", "2"]) == 2
    assert "--error-probs: 2 is not a probability in [0, 1]" in capsys.readouterr().err
    assert main(base + ["--set", "variation.sigma_rp=-1"]) == 2
    err = capsys.readouterr().err
    assert "variation.sigma_rp: must be >= 0" in err and err.count("\n") == 1
