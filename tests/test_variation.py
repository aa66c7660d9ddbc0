"""Device variation: per-operation sense error probabilities (analytic against Monte Carlo) and
the variation group's bad input."""

import copy
import math

import numpy as np
import pytest
import yaml

from pimsim.device import load_device_params, parse_device_params, with_overrides
from pimsim.device.params import PRESETS_DIR
from pimsim.device.variation import (
    VariationParams,
    fault_rates,
    monte_carlo_error_probs,
    op_error_probs,
    sense_error_probs,
)
from pimsim.errors import PimsimError

SENSES = 10**6
Z = 3.29  # two-sided 99.9 % normal quantile


def _within_ci(analytic: float, measured: float, n: int) -> bool:
    """|measured - analytic| inside the 99.9 % binomial (normal-approximation) interval of p,
    with a floor of 3 expected events for tiny p."""
    half = Z * math.sqrt(max(analytic * (1 - analytic), 3 / n) / n)
    return abs(measured - analytic) <= half


@pytest.mark.parametrize("op", ["and2", "read"])
@pytest.mark.parametrize("sigma", [0.05, 0.1, 0.15])
def test_analytic_error_probability_agrees_with_monte_carlo(op, sigma):
    mtj = load_device_params("stt_mram_45nm").mtj
    v = VariationParams(sigma_rp=sigma, sigma_tmr=sigma, sense_offset_sigma_ua=1.0)
    args = (mtj.resistance_p_ohm, mtj.tmr_ratio, mtj.read_voltage_v, v, op)
    analytic = sense_error_probs(*args)
    measured = monte_carlo_error_probs(*args, SENSES, np.random.default_rng(11))
    assert max(analytic) > 1e-4  # the check compares non-trivial probabilities
    for a, m in zip(analytic, measured, strict=True):
        assert _within_ci(a, m, SENSES), (sigma, op, analytic, measured)


def test_error_probability_grows_with_sigma_and_falls_with_tmr():
    p = load_device_params("sot_mram_45nm")
    base = op_error_probs(p)["and2"]
    assert op_error_probs(with_overrides(p, {"variation.sigma_rp": 0.1}))["and2"] > base
    assert op_error_probs(with_overrides(p, {"mtj.tmr_ratio": 1.5}))["and2"] < base
    zero = with_overrides(p, {"variation.sigma_rp": 0, "variation.sigma_tmr": 0,
                              "variation.sense_offset_sigma_ua": 0})
    assert op_error_probs(zero) == {"read": 0.0, "and2": 0.0}
    assert fault_rates(zero).write == p.variation.write_error_prob


def test_and2_states_one_ap_is_the_hardest():
    """AND2's reference separates one AP cell from two; no AP cell lies a whole step away."""
    rates = fault_rates(with_overrides(load_device_params(), {"variation.sigma_rp": 0.1}))
    assert rates.and2[0] < rates.and2[2] < rates.and2[1]


def _raw(name="sot_mram_45nm"):
    return yaml.safe_load((PRESETS_DIR / f"{name}.yaml").read_text())


@pytest.mark.parametrize("key, value, message", [
    ("sigma_rp", -0.1, r"variation\.sigma_rp: must be >= 0 \(a sigma\), got -0\.1"),
    ("sense_offset_sigma_ua", -1, r"variation\.sense_offset_sigma_ua: must be >= 0"),
    ("write_error_prob", 1.5, r"variation\.write_error_prob: must lie in \[0, 1\]"),
    ("stuck_at_frac", -0.01, r"variation\.stuck_at_frac: must lie in \[0, 1\]"),
    ("sigma_tmr", "big", r"variation\.sigma_tmr: must be a finite number, got 'big'"),
])
def test_bad_variation_value_is_one_line_naming_file_and_field(key, value, message):
    raw = _raw()
    raw["variation"][key]["value"] = value
    with pytest.raises(PimsimError, match=f"^x.yaml: {message}") as err:
        parse_device_params(raw, "x.yaml")
    assert "\n" not in str(err.value)
    with pytest.raises(PimsimError, match=message):
        with_overrides(load_device_params(), {f"variation.{key}": value})


def test_variation_key_without_source_or_unit_is_refused():
    raw = _raw()
    del raw["variation"]["sigma_rp"]["assumption"]
    with pytest.raises(PimsimError, match=r"^x.yaml: variation\.sigma_rp: needs exactly one "
                       r"non-empty 'source' or 'assumption'$"):
        parse_device_params(raw, "x.yaml")
    raw = _raw()
    raw["variation"]["sense_offset_sigma"] = copy.deepcopy(
        raw["variation"].pop("sense_offset_sigma_ua"))  # the unit left out of the key
    with pytest.raises(PimsimError, match=r"^x.yaml: variation\.sense_offset_sigma: unknown key"):
        parse_device_params(raw, "x.yaml")


def test_variation_group_is_optional_and_sram_has_none():
    sram = load_device_params("sram_45nm")
    assert sram.variation is None and op_error_probs(sram)["and2"] == 0
    with pytest.raises(PimsimError, match=r"variation\.sigma_rp: the file has no variation"):
        with_overrides(sram, {"variation.sigma_rp": 0.1})
    p = load_device_params()
    assert p.note("variation.sigma_rp").startswith("assumption: ")
    assert with_overrides(p, {"variation.sigma_rp": 0.2}).note("variation.sigma_rp") == \
        "override: 0.2"
