"""The technology registry: discovery, the interface, and adding a technology without editing
anything but one module and one preset."""

import importlib
import pickle
import re
import sys
from pathlib import Path

import pytest
import yaml

import pimsim.device.technologies as techs
from pimsim.device import (
    Technology,
    check_feasible,
    get_technology,
    known_technologies,
    load_device_params,
    op_margins,
    register_technology,
    subarray_leakage_uw,
    with_overrides,
)
from pimsim.device.params import PRESETS_DIR
from pimsim.errors import PimsimError
from pimsim.mapper import load_mapping

TOY_MODULE = '''
"""A toy technology for the registry test: a made-up content-addressable cell."""

from dataclasses import dataclass

from pimsim.device.technologies import Technology


@dataclass(frozen=True)
class CamParams:
    cell_leakage_nw: float
    logic_margin_frac: float


class ToyCam(Technology):
    name = "toy_cam"
    group = "cam"
    params_cls = CamParams
    margin_key = "cam.logic_margin_frac"

    def validate(self, where, cell, group):
        pass

    def read_current_ua(self, group):
        return 10.0

    def bitline_swing_v(self, group):
        return 0.2

    def physics_write_energy_pj(self, cell, group):
        return 0.02

    def cell_leakage_nw(self, group):
        return group.cell_leakage_nw

    def margins(self, group):
        m = group.logic_margin_frac
        return {"read": 0.5, "and2": m, "or2": m, "xor2": m, "maj3": 0.0}


TECHNOLOGY = ToyCam()
'''


def _toy_preset(folder: Path) -> Path:
    """The SOT preset with ``technology: toy_cam`` and a ``cam`` group instead of ``mtj``."""
    raw = yaml.safe_load((PRESETS_DIR / "sot_mram_45nm.yaml").read_text())
    raw.pop("mtj")
    raw.update(name="toy_cam_45nm", technology="toy_cam", cam={
        "cell_leakage_nw": {"value": 2.0, "assumption": "made up"},
        "logic_margin_frac": {"value": 0.3, "assumption": "made up"},
    })
    path = folder / "toy_cam_45nm.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def fresh_registry(monkeypatch):
    """An empty registry that discovers again, restored afterwards."""
    monkeypatch.setattr(techs, "_REGISTRY", {})
    monkeypatch.setattr(techs, "_discovered", False)
    yield
    sys.modules.pop(f"{techs.__name__}.toy_cam", None)


def test_shipped_technologies_are_discovered_and_presets_use_them():
    known = known_technologies()
    assert {"sot_mram", "stt_mram", "sram"} <= set(known)
    assert "mtj" not in known  # a helper module, not a technology
    for name, tech in known.items():
        assert isinstance(tech, Technology) and tech.name == name
    for preset in PRESETS_DIR.glob("*.yaml"):
        assert yaml.safe_load(preset.read_text())["technology"] in known, preset.name
    assert get_technology("sram", "x.yaml").group == "sram"
    with pytest.raises(PimsimError, match=r"^x\.yaml: technology: must be one of .*'pcm'$"):
        get_technology("pcm", "x.yaml")


def test_a_new_technology_is_one_module_found_automatically(tmp_path, monkeypatch,
                                                            fresh_registry):
    """Drop a module into the package's search path and write a preset: nothing else changes."""
    package_dir = tmp_path / "plugins"
    package_dir.mkdir()
    (package_dir / "toy_cam.py").write_text(TOY_MODULE)
    monkeypatch.setattr(techs, "__path__", [*techs.__path__, str(package_dir)])
    importlib.invalidate_caches()
    params = load_device_params(_toy_preset(tmp_path))
    assert params.technology == "toy_cam" and params.cam.logic_margin_frac == 0.3
    assert {"sot_mram", "stt_mram", "sram", "toy_cam"} <= set(known_technologies())
    d = params.derived
    assert d.write_bit_energy_pj == 0.1  # the file's override
    # 10 uA from the 1 V supply for 0.221 ns; C_BL (the SOT cell's 60 F^2) swung by 0.2 V.
    assert d.cell_read_energy_pj == pytest.approx(10 * 1.0 * 0.221e-3)
    assert d.bitline_energy_pj == pytest.approx(d.bitline_cap_ff * 1.0 * 0.2e-3)
    assert d.read_bit_energy_pj == pytest.approx(
        d.bitline_energy_pj + d.cell_read_energy_pj + params.circuit.sense_amp_energy_pj)
    assert subarray_leakage_uw(params, 2, 3) == pytest.approx((3 * 10 + 2 * 3 * 2.0) * 1e-3)
    assert check_feasible(params, load_mapping().sense_ops) == {"and2": 0.3}
    weak = with_overrides(params, {"cam.logic_margin_frac": 0.05})
    assert weak.note("cam.logic_margin_frac") == "override: 0.05"
    with pytest.raises(PimsimError, match=r"cam\.logic_margin_frac: and2 sense margin 0\.050"):
        check_feasible(weak, ("and2",))


def test_register_technology_from_outside_the_package(tmp_path, fresh_registry):
    namespace: dict = {}
    exec(compile(TOY_MODULE, "toy_cam", "exec"), namespace)
    toy = register_technology(namespace["TECHNOLOGY"])
    assert register_technology(toy) is toy  # idempotent for the same object
    with pytest.raises(ValueError, match="already registered"):
        register_technology(type(toy)())
    params = load_device_params(_toy_preset(tmp_path))
    assert params.tech is toy and op_margins(params)["maj3"] == 0.0


def test_technology_group_is_an_attribute_and_params_pickle():
    sot = load_device_params()
    assert sot.mtj is sot.tech_params and not hasattr(sot, "sram")
    copy = pickle.loads(pickle.dumps(sot))
    assert copy == sot and copy.mtj.tmr_ratio == sot.mtj.tmr_ratio
    assert copy.derived == sot.derived


def test_no_technology_branches_outside_the_technology_modules():
    """Technology-specific logic lives in pimsim/device/technologies/ only."""
    root = Path(techs.__file__).parents[2]
    pattern = re.compile(r"technology\s*[!=]=|\.(mtj|sram)\s+is\s|[\"'](sram|sot_mram|stt_mram)"
                         r"[\"']\s*(==|!=|in\b)|[!=]=\s*[\"'](sram|sot_mram|stt_mram)[\"']")
    offenders = [f"{path.relative_to(root)}:{n}" for path in sorted(root.rglob("*.py"))
                 if "technologies" not in path.parts
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert offenders == []
