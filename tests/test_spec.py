import json

import pytest

from pimsim.errors import PimsimError
from pimsim.network import DynamicNet, SubnetSpec, load_specs, parse_widths, save_specs


def test_uniform_resolves_by_rounding_and_never_below_one():
    spec = SubnetSpec.uniform(0.25)
    assert spec.name == "w0.25"
    assert spec.resolve([16, 32, 64, 3]) == (4, 8, 16, 1)
    assert SubnetSpec.uniform(0.01).resolve([16]) == (1,)


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "a", "ratio": 0.0}, "ratio: must lie in (0, 1]"),
    ({"name": "a", "ratio": 1.5}, "ratio: must lie in (0, 1]"),
    ({"name": "a", "ratio": -0.5}, "ratio: must lie in (0, 1]"),
    ({"name": "a", "counts": (4, 0)}, "counts[1]: must be >= 1"),
    ({"name": "a", "counts": (4, 2.5)}, "counts[1]: must be an integer"),
    ({"name": "a"}, "exactly one of"),
    ({"name": "a", "ratio": 0.5, "counts": (1,)}, "exactly one of"),
    ({"name": "", "ratio": 0.5}, "name: must be 1 to 64 letters"),
])
def test_invalid_specs_are_refused_when_made(kwargs, message):
    with pytest.raises(PimsimError, match=message.replace("(", r"\(").replace("[", r"\[")):
        SubnetSpec(**kwargs)


def test_counts_are_checked_against_the_model():
    model = DynamicNet("resnet20", 10, 3)
    n = len(model.group_widths)
    with pytest.raises(PimsimError, match=f"expected {n} channel counts"):
        model.register_subnet(SubnetSpec("short", counts=(4,) * (n - 1)))
    too_wide = (17,) + (4,) * (n - 1)
    with pytest.raises(PimsimError, match=r"counts\[0\]: 17 exceeds the group's width 16"):
        model.register_subnet(SubnetSpec("wide", counts=too_wide))
    with pytest.raises(PimsimError, match="unknown; registered sub-nets: w1"):
        model.set_subnet("w0.5")


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_specs_round_trip(tmp_path, suffix):
    specs = [SubnetSpec.uniform(1.0), SubnetSpec("tiny", counts=(1, 2, 3))]
    path = tmp_path / f"specs{suffix}"
    save_specs(path, specs)
    assert load_specs(path) == specs
    if suffix == ".json":
        assert json.loads(path.read_text())["subnets"][1]["counts"] == [1, 2, 3]


@pytest.mark.parametrize("text, message", [
    ("subnets: [", "not valid YAML"),
    ("other: 1", "missing key 'subnets'"),
    ("subnets: []", "subnets: must be a non-empty list"),
    ("subnets:\n- {name: a, ratoi: 0.5}", r"subnets\[0\]: unknown key 'ratoi'"),
    ("subnets:\n- {ratio: 0.5}", r"subnets\[0\]: missing key 'name'"),
    ("subnets:\n- {name: a, ratio: 2}", r"subnets\[0\]: sub-net 'a': ratio"),
    ("subnets:\n- {name: a, ratio: 1}\n- {name: a, ratio: 0.5}", "duplicate name 'a'"),
])
def test_bad_spec_files_give_one_line_errors_naming_file_and_field(tmp_path, text, message):
    path = tmp_path / "specs.yaml"
    path.write_text(text)
    with pytest.raises(PimsimError, match=message) as info:
        load_specs(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_parse_widths():
    assert [s.ratio for s in parse_widths("0.25,1")] == [0.25, 1.0]
    with pytest.raises(PimsimError, match="--widths: 'x' is not a number"):
        parse_widths("0.5,x")
