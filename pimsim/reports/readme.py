"""README figures generated, not typed: the demo table in README.md and ``reports/example/``.

``python -m pimsim.reports.readme [--demo reports/demo]`` (after ``make demo``) rewrites the
README between the ``<!-- demo:begin -->`` and ``<!-- demo:end -->`` markers and copies the
demo's deterministic CSVs, ``summary.md`` and figures into ``reports/example/`` (not the
measured ``latency.csv``: wall-clock times change with the machine and its load);
``--check`` writes nothing and exits 1 listing what differs. The comparison covers the README
block, ``summary.md`` and every cell of the copied CSVs; figures are copied but not compared
(their bytes depend on the matplotlib version).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import textwrap
from pathlib import Path

import pandas as pd

from pimsim.errors import PimsimError
from pimsim.reports.demo import BUDGETS, EPOCHS, TITLE, demo_table
from pimsim.reports.pareto import pareto_front

BEGIN, END = "<!-- demo:begin -->", "<!-- demo:end -->"
# What is copied: the deterministic outputs. The measured latency (latency.csv and its figure)
# is left out: it depends on the machine and its load, so a committed copy would mislead.
CSVS = ("subnets.csv", "layers.csv", "sweep.csv")
TEXTS = ("summary.md",)
FIGURES = ("pareto.png", "pareto.svg", "latency_accuracy.png", "technology.png",
           "layer_energy.png", "area_memory.png")


def demo_block(demo_dir: str | Path) -> str:
    """The README text between the markers, from a demo folder."""
    demo = Path(demo_dir)
    table = demo_table(demo)
    subnets = pd.read_csv(demo / "subnets.csv")
    front = pareto_front(subnets, "energy_per_image_uj", "top1_pim")
    images = int(subnets.images.iloc[0])
    legend = (f"(`top1_pim`: fraction of the {images} test images classified right by "
              "bit-serial PIM inference; `latency_ns`: simulated PIM latency per image; "
              "`energy_uj_*`: simulated 8-bit energy per image on each memory type. Training: "
              f"{EPOCHS} epochs, MAC budgets {', '.join(map(str, BUDGETS))}. The measured CPU "
              "latency per image is in `latency.csv`, not here: it changes from run to run.)")
    front_text = (f"The energy-accuracy Pareto front of the SOT-MRAM chip holds {len(front)} "
                  f"of the {len(subnets)} sub-nets ({', '.join(front.subnet)}): each step up "
                  "in width buys accuracy with energy.")
    return "\n".join(["```", TITLE, table.to_string(index=False, float_format="{:.4g}".format),
                      "```", textwrap.fill(legend, 95), "", textwrap.fill(front_text, 95)])


def _replace_block(readme: str, block: str, where: str) -> str:
    if readme.count(BEGIN) != 1 or readme.count(END) != 1:
        raise PimsimError(f"{where}: needs one {BEGIN} and one {END} line")
    head, rest = readme.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{block}\n{END}{tail}"


def differences(demo_dir: str | Path, readme: str | Path = "README.md",
                example: str | Path = "reports/example") -> list[str]:
    """What the committed README and example folder lack from the demo folder (empty: they
    agree)."""
    demo, example, readme = Path(demo_dir), Path(example), Path(readme)
    found = []
    text = readme.read_text()
    if _replace_block(text, demo_block(demo), str(readme)) != text:
        found.append(f"{readme}: the demo block differs")
    for name in CSVS:
        if not (example / name).is_file():
            found.append(f"{example / name}: missing")
            continue
        if not pd.read_csv(example / name).equals(pd.read_csv(demo / name)):
            found.append(f"{example / name}: differs from {demo / name}")
    for name in TEXTS:
        if not (example / name).is_file() or _stable(example / name) != _stable(demo / name):
            found.append(f"{example / name}: differs from {demo / name}")
    return found


def _stable(path: Path) -> str:
    """A report's text without what names where and when it ran (the checkpoint's path,
    the command line, versions and commit), which a rerun elsewhere changes."""
    lines = [line for line in path.read_text().splitlines()
             if not line.startswith(("Versions:", "Command:"))]
    return re.sub(r"checkpoint `[^`]*`", "checkpoint `...`", "\n".join(lines))


def regenerate(demo_dir: str | Path, readme: str | Path = "README.md",
               example: str | Path = "reports/example") -> None:
    """Rewrite the README block and copy the demo's outputs into ``example``."""
    demo, example, readme = Path(demo_dir), Path(example), Path(readme)
    readme.write_text(_replace_block(readme.read_text(), demo_block(demo), str(readme)))
    example.mkdir(parents=True, exist_ok=True)
    for name in (*CSVS, *TEXTS, *FIGURES):
        if (demo / name).is_file():
            shutil.copyfile(demo / name, example / name)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pimsim.reports.readme", description=__doc__)
    p.add_argument("--demo", default="reports/demo", help="a `pimsim demo` folder "
                   "(default reports/demo, what `make demo` writes)")
    p.add_argument("--readme", default="README.md")
    p.add_argument("--example", default="reports/example")
    p.add_argument("--check", action="store_true", help="compare only; exit 1 if they differ")
    args = p.parse_args(argv)
    try:
        if args.check:
            found = differences(args.demo, args.readme, args.example)
            for line in found:
                print(line, file=sys.stderr)
            return 1 if found else 0
        regenerate(args.demo, args.readme, args.example)
    except PimsimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
