"""Hostile and careless inputs (issue #18): names that would become paths, YAML bombs, values
that are not finite or absurdly large. Every case is a one-line ``PimsimError`` (exit 2 on the
command line), fast, with nothing written; the fuzz tests feed random documents to the loaders."""

from __future__ import annotations

import dataclasses
import math
import time
import tracemalloc
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pimsim.device import load_device_params
from pimsim.device.params import PRESETS_DIR
from pimsim.errors import PimsimError
from pimsim.mapper import load_mapping
from pimsim.mapper.chip import MAPPINGS_DIR
from pimsim.network import DynamicNet, SubnetSpec, load_specs
from pimsim.paramfile import MAX_YAML_BYTES, MAX_YAML_DEPTH, parse_yaml
from pimsim.simulate.hardware import check_each, parse_settings
from pimsim.train.config import TrainConfig
from tests.conftest import exit_code

DEVICE = PRESETS_DIR / "sot_mram_45nm.yaml"
MAPPING = MAPPINGS_DIR / "default.yaml"
LOADERS = {"device": load_device_params, "mapping": load_mapping, "specs": load_specs}
FUZZ = settings(max_examples=50, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def one_line_error(call, *args) -> str:
    with pytest.raises(PimsimError) as info:
        call(*args)
    message = str(info.value)
    assert "\n" not in message and len(message) < 800, message  # bounded, whatever the input
    return message


def cli_error(capsys, argv: list[str]) -> str:
    assert exit_code(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def alias_bomb(levels: int = 9) -> str:
    """Billion laughs: ``levels`` anchors, each a list of ten aliases of the one before."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        p = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([p] * 10)}]")
    return "\n".join(lines) + "\n"


# --- 1. Names are data, never paths ----------------------------------------------------------

BAD_NAMES = ["../../evil", "a/b", "..", ".", "a\\b", "x" * 65, "with space", "évil", "a\nb",
             "", 12, None, ["w"]]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_subnet_names_that_are_not_safe_file_names_are_refused(tmp_path, name):
    path = tmp_path / "S.yaml"
    path.write_text(yaml.safe_dump({"subnets": [{"name": name, "ratio": 0.5}]}))
    message = one_line_error(load_specs, path)
    assert message.startswith(f"{path}: subnets[0]: sub-net spec: name:"), message
    with pytest.raises(PimsimError, match="name"):
        SubnetSpec(name, ratio=0.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["w0.25", "b0.5", "d1", "A-b_c.d", "x" * 64, "w1e-05"])
def test_safe_names_and_generated_names_are_kept(name):
    assert SubnetSpec(name, ratio=0.5).name == name


def test_train_with_a_traversing_subnet_name_writes_nothing(tmp_path, capsys, monkeypatch):
    """The issue's case: ``../../evil`` from a specs file must not become ``a/b/evil.pt``."""
    monkeypatch.chdir(tmp_path)
    Path("S.yaml").write_text("subnets:\n- {name: ../../evil, ratio: 1.0}\n")
    err = cli_error(capsys, ["train", "--method", "individual", "--specs", "S.yaml",
                             "--epochs", "1", "--out", "a/b/ind"])
    assert "S.yaml: subnets[0]: sub-net spec: name:" in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["S.yaml"]


def test_a_checkpoint_with_a_crafted_subnet_name_is_refused(tmp_path):
    from pimsim.train.checkpoint import load_checkpoint, save_checkpoint, save_sealed

    path = tmp_path / "model.pt"
    save_checkpoint(path, DynamicNet("resnet20", 10, 1), (8, 8), "digits")
    data = torch.load(path, weights_only=True)
    data["subnets"][0]["name"] = "../../evil"
    save_sealed(path, data)  # edited, checksum renewed: the name check must refuse it
    assert "name:" in one_line_error(load_checkpoint, path)


# --- 2. Hostile YAML -------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_an_alias_bomb_is_refused_fast_in_little_memory(tmp_path, kind):
    bomb = alias_bomb()
    assert len(bomb) < 1024
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        message = one_line_error(LOADERS[kind], path)
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert "anchors and aliases" in message and str(path) in message
    assert seconds < 1.0 and peak < 200 * 2**20


def test_an_alias_bomb_on_the_command_line_is_one_line_exit_2(tmp_path, capsys):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb())
    out = tmp_path / "out"
    start = time.perf_counter()
    err = cli_error(capsys, ["simulate", "--cost-only", "--model", "resnet20", "--input-size",
                             "32", "--device-params", str(bomb), "--out", str(out)])
    assert "anchors and aliases" in err and time.perf_counter() - start < 10
    assert not out.exists()


@pytest.mark.parametrize("text, message", [
    ("a: &x 1\nb: *x\n", "anchors and aliases"),
    ("a: &x 1\n", "anchors and aliases"),
    ("[" * (MAX_YAML_DEPTH + 1) + "]" * (MAX_YAML_DEPTH + 1), "nested deeper than"),
    ("a: " + "1" * 5000, "not valid YAML"),  # beyond Python's int digit limit
    ("a: 2001-13-45", "not valid YAML"),  # a timestamp of month 13
    ("a: !!python/object/apply:os.system [echo hi]", "not valid YAML"),
    ("a: 1\n---\nb: 2\n", "not valid YAML"),
    ("a: [1\n", "line 2"),
])
def test_yaml_texts_refused_in_one_line(text, message):
    assert message in one_line_error(parse_yaml, text, "x.yaml")


def test_nesting_up_to_the_limit_is_read():
    n = MAX_YAML_DEPTH
    assert parse_yaml("[" * n + "]" * n, "x.yaml") == parse_yaml("[" * n + "]" * n, "x.yaml")


@pytest.mark.parametrize("content, message", [
    (b"a: 1\n" * (MAX_YAML_BYTES // 5 + 1), "larger than"),
    (b"a: \xff\xfe\n", "not UTF-8"),
])
def test_oversized_and_binary_files_are_refused(tmp_path, content, message):
    path = tmp_path / "big.yaml"
    path.write_bytes(content)
    for load in LOADERS.values():
        assert message in one_line_error(load, path)


def test_a_directory_or_a_missing_file_is_one_line(tmp_path):
    (tmp_path / "d.yaml").mkdir()
    for load in LOADERS.values():
        assert "cannot read: Is a directory" in one_line_error(load, tmp_path / "d.yaml")
        assert "cannot read: No such file" in one_line_error(load, tmp_path / "none.yaml")


# --- 3. Values -------------------------------------------------------------------------------

def edited(source: Path, group: str, key: str, value: object) -> dict:
    raw = yaml.safe_load(source.read_text())
    raw[group][key]["value"] = value
    return raw


@pytest.mark.parametrize("source, group, key, value, message", [
    (DEVICE, "cell", "write_energy_pj", math.inf, "must be a finite number"),
    (DEVICE, "cell", "write_energy_pj", math.nan, "must be a finite number"),
    (DEVICE, "cell", "write_energy_pj", 1e300, "must lie in"),
    (MAPPING, "chip", "rows", 10**12, "must be <= 65536"),
    (MAPPING, "chip", "clock_ghz", 10**400, "must lie in"),
    (DEVICE, "mtj", "tmr_ratio", 1e-40, "must lie in"),
    (DEVICE, "circuit", "sense_amp_min_margin_frac", 10**400, "must be < 1"),
    (MAPPING, "chip", "cols", 65537, "must be <= 65536"),
    (MAPPING, "chip", "clock_ghz", math.inf, "must be a finite number"),
    (MAPPING, "chip", "banks", 2**25, "must be <= 16777216"),
    (MAPPING, "chip", "banks", 2**20, "subarrays_per_mat must be <= 16777216"),
])
def test_non_finite_and_absurd_parameter_values_are_refused(tmp_path, source, group, key,
                                                            value, message):
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(edited(source, group, key, value)))
    load = load_mapping if source == MAPPING else load_device_params
    got = one_line_error(load, path)
    assert str(path) in got and message in got and (key in got or "subarrays" in got)


def test_the_bounds_leave_the_shipped_files_alone():
    load_mapping("default")
    for path in PRESETS_DIR.glob("*.yaml"):
        load_device_params(path)


@pytest.mark.parametrize("text, message", [
    ("chip.clock_ghz=inf", "--set chip.clock_ghz: must be a finite number"),
    ("chip.clock_ghz=.inf", "--set chip.clock_ghz: must be a finite number"),
    ("chip.clock_ghz=-.NaN", "--set chip.clock_ghz: must be a finite number"),
    ("chip.clock_ghz=1.0e+400", "--set chip.clock_ghz: must be a finite number"),
    ("chip.rows=&a 1", "every value must be"),
    ("chip.rows=!!set {a}", "every value must be"),
    ("chip.rows=2001-01-01", "every value must be"),
])
def test_bad_set_values_name_their_key(text, message):
    assert message in one_line_error(parse_settings, [text], False)


@pytest.mark.parametrize("argv, message", [
    (["simulate", "--cost-only", "--model", "resnet20", "--set", "chip.rows=1000000000000"],
     "chip.rows: must be <= 65536"),
    (["simulate", "--cost-only", "--model", "resnet20", "--set", "mtj.tmr_ratio=.inf"],
     "--set mtj.tmr_ratio: must be a finite number"),
    (["simulate", "--cost-only", "--model", "resnet50", "--input-size", "100000"],
     "--input-size: one 100000x100000 image"),
    (["simulate", "--cost-only", "--model", "resnet20", "--input-size", "30000"],
     "--input-size: one 30000x30000 image"),
    (["sweep", "--cost-only", "--model", "resnet20", "--input-size", "100000", "--quiet"],
     "--input-size: one 100000x100000 image"),
    (["count", "--input-size", "100000"], "--input-size: one 100000x100000 image"),
    (["train", "--dataset", "synthetic", "--input-size", "100000"], "--input-size:"),
    (["train", "--dataset", "synthetic", "--input-size", "3000"], "a training step on one"),
    (["train", "--dataset", "synthetic", "--num-classes", "1000000000"], "--num-classes:"),
    (["train", "--lr", "inf"], "--lr: must be a finite number"),
    (["train", "--kd-weight", "nan"], "--kd-weight:"),
])
def test_bad_values_on_the_command_line_are_one_line_and_fast(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    start = time.perf_counter()
    err = cli_error(capsys, [*argv, "--out", str(out)])
    assert message in err and "GiB" in err if "input-size" in message else message in err
    assert time.perf_counter() - start < 10 and not out.exists()


@pytest.mark.parametrize("field", ["lr", "momentum", "weight_decay", "kd_temperature",
                                   "sparsity_weight", "mask_update_until"])
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_train_options_are_refused(field, value):
    message = one_line_error(TrainConfig(**{field: value}).validate)
    assert message.startswith(f"--{field.replace('_', '-')}:")


# --- 4. Fuzz: a clean error or a valid object, never another exception -----------------------

scalars = (st.none() | st.booleans() | st.integers()
           | st.sampled_from([10**400, -10**400, 2**24 + 1, 65537, 0, -1])
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20))


def nested(inner: st.SearchStrategy) -> st.SearchStrategy:
    """Lists and mappings (text or integer keys) of ``inner``."""
    keys = st.text(max_size=10) | st.integers()
    return st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4)


documents = st.recursive(scalars, nested, max_leaves=20)


def clean_or_valid(load, path: Path) -> None:
    """A one-line error, or an object whose numbers are all finite and whose sub-net names are
    safe file names."""
    try:
        obj = load(path)
    except PimsimError as exc:
        assert "\n" not in str(exc)
        return
    for item in obj if isinstance(obj, list) else [obj]:
        for value in numbers(item):
            assert math.isfinite(value)
        if isinstance(item, SubnetSpec):
            assert (tmp := path.parent / f"{item.name}.pt").parent == path.parent
            assert tmp.name not in (".pt", "..pt")


def numbers(obj: object) -> list[float]:
    """Every int and float in the fields of a (nested) dataclass."""
    if dataclasses.is_dataclass(obj):
        return [v for f in dataclasses.fields(obj) for v in numbers(getattr(obj, f.name))]
    if isinstance(obj, tuple | list):
        return [v for item in obj for v in numbers(item)]
    return [obj] if isinstance(obj, int | float) and not isinstance(obj, bool) else []


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(doc=documents, kind=st.sampled_from(sorted(LOADERS)))
def test_fuzz_random_documents(fuzz_dir, doc, kind):
    path = fuzz_dir / "doc.yaml"
    path.write_text(yaml.safe_dump(doc))
    clean_or_valid(LOADERS[kind], path)


@FUZZ
@given(text=st.text(max_size=200), kind=st.sampled_from(sorted(LOADERS)))
def test_fuzz_random_text(fuzz_dir, text, kind):
    path = fuzz_dir / "text.yaml"
    path.write_text(text)
    clean_or_valid(LOADERS[kind], path)


def _leaves(raw: dict) -> list[tuple[str, str]]:
    return [(g, k) for g, group in raw.items() if isinstance(group, dict)
            for k in group if isinstance(group[k], dict)]


@FUZZ
@given(data=st.data(), source=st.sampled_from([DEVICE, MAPPING]), value=documents)
def test_fuzz_shipped_files_with_one_value_replaced(fuzz_dir, data, source, value):
    """Close to a valid file, so that the random value reaches the checks of every key."""
    raw = yaml.safe_load(source.read_text())
    group, key = data.draw(st.sampled_from(_leaves(raw)))
    raw[group][key] = data.draw(st.sampled_from([value, {"value": value, "source": "x"}]))
    path = fuzz_dir / "edited.yaml"
    path.write_text(yaml.safe_dump(raw))
    clean_or_valid(load_mapping if source == MAPPING else load_device_params, path)


@FUZZ
@given(data=st.data(), subnets=st.lists(documents, max_size=3))
def test_fuzz_specs_entries(fuzz_dir, data, subnets):
    entries = [data.draw(st.sampled_from([s, {"name": s, "ratio": 0.5},
                                          {"name": "a", "counts": s}, {"name": "a", "ratio": s}]))
               for s in subnets]
    path = fuzz_dir / "specs.yaml"
    path.write_text(yaml.safe_dump({"subnets": entries}))
    clean_or_valid(load_specs, path)


set_keys = st.sampled_from(["chip.rows", "chip.clock_ghz", "policy.execution", "mtj.tmr_ratio",
                            "cell.nonvolatile", "circuit.sense_amp_min_margin_frac", "x.y"])


@FUZZ
@given(key=set_keys, value=st.text(min_size=1, max_size=30) | scalars.map(str),
       axes=st.booleans())
def test_fuzz_set_texts(key, value, axes):
    """``--set`` parsing and resolution against the default files."""
    try:
        settings_ = parse_settings([f"{key}={value}"], axes)
        values = settings_ if axes else {k: [v] for k, v in settings_.items()}
        check_each("sot_mram_45nm", "default", values)
    except PimsimError as exc:
        assert "\n" not in str(exc)


def test_the_activation_estimate_is_exact_without_allocating():
    from pimsim.network.counting import activation_bytes

    body = DynamicNet("resnet20", 10, 3).body
    sizes = []
    handles = [m.register_forward_hook(lambda m, i, o: sizes.append((i[0].numel(), o.numel())))
               for m in body.modules() if not list(m.children())]
    with torch.no_grad():
        body.eval()(torch.zeros(1, 3, 96, 96))
    for h in handles:
        h.remove()
    # resnet20's largest step: a 16-channel 3x3 convolution at full resolution, in + out
    assert activation_bytes(body, (3, 96, 96)) == 4 * max(i + o for i, o in sizes) \
        == 2 * 16 * 96 * 96 * 4
    assert activation_bytes(body, (3, 96, 96), kept=True) == 4 * sum(o for _, o in sizes)
    tracemalloc.start()
    assert activation_bytes(body, (3, 10**5, 10**5)) == 2 * 16 * 10**10 * 4
    assert tracemalloc.get_traced_memory()[1] < 50 * 2**20
    tracemalloc.stop()


def test_a_model_of_fixed_resolution_is_measured_too():
    """A Linear after a flatten fixes the resolution: the measure runs at the real size."""
    from pimsim.network.counting import activation_bytes

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Flatten(),
                                torch.nn.Linear(8 * 100 * 100, 10))
    assert activation_bytes(model, (3, 100, 100)) == (8 * 10**4 * 2) * 4


def test_an_input_too_large_by_its_channels_is_refused_before_the_forward_pass():
    from pimsim.network.counting import check_input_size

    body = DynamicNet("resnet20", 10, 3).body
    message = one_line_error(check_input_size, body, (10**9, 32, 32))
    assert message.startswith("--in-channels: one 32x32 image (1000000000 channels)")


@pytest.mark.parametrize("source, edit", [
    (DEVICE, lambda raw: raw.update(name=list(range(100_000)))),
    (MAPPING, lambda raw: raw.update(policy={"execution": "x" * 500_000})),
    (MAPPING, lambda raw: raw["chip"].update(rows={"value": "y" * 500_000, "source": "z"})),
    (MAPPING, lambda raw: raw["chip"].update({"r" * 500_000: 1})),
])
def test_huge_values_give_short_messages(tmp_path, source, edit):
    raw = yaml.safe_load(source.read_text())
    edit(raw)
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(raw, width=10**9))
    one_line_error(load_mapping if source == MAPPING else load_device_params, path)


@pytest.mark.parametrize("argv, message", [
    (["count", "--in-channels", "1000000000"], "--in-channels: must be 1 to 4,096"),
    (["count", "--num-classes", "1000000000"], "--num-classes: must be 1 to 100,000"),
    (["simulate", "--cost-only", "--model", "resnet20", "--input-size", "8",
      "--in-channels", "1000000000", "--out", "OUT"], "--in-channels: must be 1 to 4,096"),
])
def test_absurd_channels_and_classes_are_refused_before_allocation(argv, message, tmp_path,
                                                                   capsys):
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    assert exit_code(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and not (tmp_path / "out").exists()


def test_a_limit_beyond_the_test_set_is_refused():
    from pimsim.data import load_dataset

    data = load_dataset("digits", None, 8, 10)
    assert data.test_count(None) == data.test_count(len(data.test_y)) == len(data.test_y)
    with pytest.raises(PimsimError, match="--limit: 100000 is more than the 450 test images"):
        data.test_count(100000)
