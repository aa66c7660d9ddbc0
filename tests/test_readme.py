"""The README's commands and Python snippet run as written, and its demo table and
reports/example/ are what the code produces (measured wall-clock columns excluded)."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pimsim.commands import main
from pimsim.errors import PimsimError
from pimsim.reports import readme

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def pipeline_commands() -> list[str]:
    """Every `pimsim ...` command of the table under "## The pipeline", in order."""
    text = README.read_text()
    table = text.split("## The pipeline", 1)[1].split("\n\n", 2)[1]
    return re.findall(r"`(pimsim [^`]+)`", table)


def python_snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_the_readme_commands_are_runnable_as_written():
    commands = pipeline_commands()
    assert len(commands) >= 10 and commands[0].startswith("pimsim train")
    for command in commands:
        assert "..." not in command and "[" not in command, command


def test_the_readme_demo_block_is_the_example_folders():
    """The committed block equals the one generated from reports/example/ (the demo's CSVs)."""
    text = README.read_text()
    block = text.split(readme.BEGIN)[1].split(readme.END)[0]
    assert block == f"\n{readme.demo_block(ROOT / 'reports' / 'example')}\n"
    with pytest.raises(PimsimError, match="needs one <!-- demo:begin -->"):
        readme._replace_block("no markers", "x", "R.md")


@pytest.mark.slow
def test_readme_commands_then_snippet_twice(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for command in pipeline_commands():
        argv = shlex.split(command)[1:]
        assert main(argv) == 0, command
    snippet = python_snippet()
    for _ in range(2):
        exec(compile(snippet, "README.md", "exec"), {"__name__": "readme_snippet"})
    assert "top1_pim" in capsys.readouterr().out


@pytest.mark.slow
def test_committed_readme_and_example_equal_a_fresh_demo(tmp_path):
    """``pimsim demo`` in its own process, as ``make demo`` runs it (torch's default thread
    count, not the one-thread setting of the tests' conftest)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "pimsim", "demo", "--out", str(tmp_path / "demo"),
                    "--quiet"], check=True, env=env, capture_output=True)
    assert readme.differences(tmp_path / "demo", README, ROOT / "reports" / "example") == [], \
        "regenerate: make demo && python -m pimsim.reports.readme"
