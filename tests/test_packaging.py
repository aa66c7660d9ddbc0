"""Packaging: the wheel holds every subpackage and the shipped device presets and mappings,
which resolve by name from an installed wheel run in another folder; numba's cache is a
per-user folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import pimsim
from pimsim.bundled import bundled_dir
from pimsim.device.params import PRESETS_DIR
from pimsim.mapper.chip import MAPPINGS_DIR

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("device_params", "mappings")
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "pimsim", *SHIPPED)


def test_pyproject_lists_every_subpackage_and_the_shipped_folders():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "pimsim").rglob("*.py")
               if "__pycache__" not in p.parts}
    assert set(config["packages"]) == folders | {f"pimsim.{name}" for name in SHIPPED}
    assert config["package-dir"] == {f"pimsim.{name}": name for name in SHIPPED}


def test_a_source_checkout_reads_the_top_level_folders():
    assert PRESETS_DIR == bundled_dir("device_params") == ROOT / "device_params"
    assert MAPPINGS_DIR == bundled_dir("mappings") == ROOT / "mappings"


def test_numba_cache_is_a_per_user_folder(tmp_path, monkeypatch):
    code = "import os, pimsim; print(os.environ['NUMBA_CACHE_DIR'])"  # before numba is imported
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env |= {"HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60, check=True)
    assert run.stdout.strip() == str(tmp_path / ".cache" / "pimsim" / "numba")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    assert pimsim._numba_cache_dir() == str(tmp_path / "xdg" / "pimsim" / "numba")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))  # the user's choice wins
    assert pimsim._numba_cache_dir() == str(tmp_path / "mine")


RESOLVE = """
import sys
from pathlib import Path
from pimsim.device.params import PRESETS_DIR, list_presets, load_device_params
from pimsim.mapper.chip import MAPPINGS_DIR, load_mapping
from pimsim.simulate.hardware import hardware_record
site = Path(sys.argv[1]).resolve()
assert PRESETS_DIR.resolve() == site / "pimsim" / "device_params", PRESETS_DIR
assert MAPPINGS_DIR.resolve() == site / "pimsim" / "mappings", MAPPINGS_DIR
mappings = sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml"))
for name in list_presets():
    load_device_params(name)
    for mapping in mappings:
        load_mapping(mapping)
        assert len(hardware_record(name, mapping)["device_params"]["sha256"]) == 64
print(" ".join(list_presets()), "|", " ".join(mappings))
"""


@pytest.mark.slow
def test_every_preset_and_mapping_resolves_from_an_installed_wheel(tmp_path):
    source = tmp_path / "source"  # a copy: the build writes build/ and *.egg-info beside it
    source.mkdir()
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(source)], check=True, timeout=300,
                   capture_output=True, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("pimsim-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:  # what pip install puts in site-packages
        zf.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", RESOLVE, str(site)], env=env, cwd=elsewhere,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    expected = (" ".join(sorted(p.stem for p in (ROOT / "device_params").glob("*.yaml")))
                + " | " + " ".join(sorted(p.stem for p in (ROOT / "mappings").glob("*.yaml"))))
    assert run.stdout.strip() == expected
