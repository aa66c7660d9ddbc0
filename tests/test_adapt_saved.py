"""Adapted models saved by ``pimsim adapt`` load back to the same logits; tampered or foreign
files are one-line errors; ``pimsim simulate --adapted`` costs each domain's DA3 gating."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from pimsim.adapt import load_adapted
from pimsim.adapt.methods import da3_units
from pimsim.data.digits import load_digits
from pimsim.data.domains import make_domain
from pimsim.errors import PimsimError
from pimsim.network import DynamicNet, SubnetSpec
from pimsim.reports.columns import lookup
from pimsim.train import save_checkpoint, top1
from tests.conftest import exit_code


@pytest.fixture(scope="module")
def adapted(tmp_path_factory):
    """A two-sub-net checkpoint and ``pimsim adapt`` of its w0.5 with da3 and piggyback."""
    d = tmp_path_factory.mktemp("adapted")
    torch.manual_seed(0)
    net = DynamicNet("resnet20", 10, 1, [SubnetSpec.uniform(1.0), SubnetSpec.uniform(0.5)])
    save_checkpoint(d / "model.pt", net, (8, 8), "digits")
    assert exit_code(["adapt", "--checkpoint", str(d / "model.pt"), "--subnet", "w0.5",
                      "--domains", "invert,flip", "--method", "da3,piggyback", "--epochs", "1",
                      "--train-limit", "32", "--out", str(d / "out")]) == 0
    return d


@pytest.mark.parametrize("method", ["da3", "piggyback"])
def test_save_load_gives_the_same_logits(adapted, method):
    model, rec = load_adapted(adapted / "out" / "models" / "invert" / f"{method}.pt")
    table = pd.read_csv(adapted / "out" / "adapt.csv").set_index(["domain", "method"])
    assert rec["domain"] == "invert" and rec["method"] == method and rec["subnet"] == "w0.5"
    assert rec["top1_float"] == table.loc[("invert", method), "top1_float"]
    data = make_domain("invert", load_digits())
    x = data.test_x[:64]
    with torch.no_grad():
        logits = model(x)
    assert top1(model, data) == rec["top1_float"]  # the very model that was measured
    again, _ = load_adapted(adapted / "out" / "models" / "invert" / f"{method}.pt")
    with torch.no_grad():
        assert torch.equal(again(x), logits)
    if method == "da3":
        units = da3_units(model)
        assert set(rec["active_channels"]) == set(units) and len(units) == 9
        assert all(torch.isfinite(u.bound).all() for u in units.values())  # calibrated
        for u in units.values():
            u.gating = True
        assert top1(model, data) == rec["top1_float_gated"]
    else:
        assert rec["design"] is None and rec["active_channels"] == {}


def test_tampered_or_foreign_files_are_one_line_errors(adapted, tmp_path):
    src = adapted / "out" / "models" / "flip" / "da3.pt"
    data = torch.load(src, weights_only=True)
    data["top1_float"] = 1.0  # edited without resealing
    torch.save(data, tmp_path / "edited.pt")
    with pytest.raises(PimsimError, match="edited.pt: sha256: content does not match"):
        load_adapted(tmp_path / "edited.pt")
    with pytest.raises(PimsimError, match="model.pt: format: not a pimsim adapted model"):
        load_adapted(adapted / "model.pt")
    with pytest.raises(PimsimError, match="nothing.pt: adapted model not found"):
        load_adapted(tmp_path / "nothing.pt")


def test_adapted_gating_repeats_adapts_costs(adapted):
    from pimsim.device import load_device_params
    from pimsim.mapper import load_mapping
    from pimsim.simulate.gating import adapted_gating

    gating = adapted_gating(str(adapted / "model.pt"), str(adapted / "out"), 8,
                            load_device_params(), load_mapping())
    adapt = pd.read_csv(adapted / "out" / "adapt.csv").set_index(["domain", "method"])
    assert sorted(gating.domain) == ["flip", "invert"] and (gating.subnet == "w0.5").all()
    for row in gating.itertuples():
        da3 = adapt.loc[(row.domain, "da3")]
        assert row.energy_pj == pytest.approx(da3.energy_pj)
        assert row.energy_gated_pj == pytest.approx(da3.energy_gated_pj)
        assert row.latency_saved_ns == pytest.approx(da3.latency_saved_ns)
        assert row.top1_float == da3.top1_float
        assert row.active_channel_fraction == pytest.approx(da3.active_channel_fraction)


@pytest.mark.slow
def test_simulate_costs_each_domains_gating(adapted, tmp_path):
    out = tmp_path / "sim"
    assert exit_code(["simulate", "--checkpoint", str(adapted / "model.pt"), "--subnets",
                      "w0.5", "--bits", "8", "--limit", "4", "--adapted",
                      str(adapted / "out"), "--out", str(out)]) == 0
    gating = pd.read_csv(out / "gating.csv")
    undocumented = [c for c in gating.columns
                    if lookup(c) is None or "gating.csv" not in lookup(c).files]
    assert undocumented == [], "add them to pimsim/reports/columns.py"
    adapt = pd.read_csv(adapted / "out" / "adapt.csv").set_index(["domain", "method"])
    assert sorted(gating.domain) == ["flip", "invert"] and (gating.subnet == "w0.5").all()
    for row in gating.itertuples():
        da3 = adapt.loc[(row.domain, "da3")]
        # the same costs pimsim adapt reported, and the adapted model's accuracy
        assert row.energy_gated_pj == pytest.approx(da3.energy_gated_pj)
        assert row.energy_saved_pj == pytest.approx(da3.energy_saved_pj)
        assert row.top1_float == da3.top1_float
    assert "DA3 gating (`--adapted`, `gating.csv`): 2 domains" in (out / "summary.md").read_text()


def test_simulate_refuses_adapted_models_of_another_checkpoint(adapted, tmp_path, capsys):
    other = tmp_path / "other.pt"
    save_checkpoint(other, DynamicNet("resnet20", 10, 1, [SubnetSpec.uniform(0.5)]), (8, 8),
                    "digits")
    code = exit_code(["simulate", "--checkpoint", str(other), "--bits", "8", "--adapted",
                      str(adapted / "out"), "--out", str(tmp_path / "sim")])
    err = capsys.readouterr().err
    assert code == 2 and "source_sha256: adapted from another checkpoint" in err
    assert err.count("\n") == 1 and not (tmp_path / "sim").exists()
    code = exit_code(["simulate", "--checkpoint", str(other), "--adapted", str(tmp_path),
                      "--out", str(tmp_path / "sim")])
    assert code == 2 and "no models/DOMAIN/da3.pt" in capsys.readouterr().err
