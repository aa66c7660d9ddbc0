"""Sub-net generation methods compared with paired 95 % confidence intervals over seeds.

Run: ``.venv/bin/python benchmarks/train_methods.py [--dataset digits|digits-affine]`` (10
seeds) or ``--quick`` (2 seeds, 2 epochs: a smoke run of the pipeline). Training runs on one
thread (``torch.set_num_threads(1)``): results then do not depend on the machine's core count,
and a second busy process cannot stall it (two OpenMP threads sharing two busy cores ran a
resnet20 step about 100x slower here).

Two settings (why):

- ``digits`` (default; 15 epochs, MAC budgets 0.25/0.5/0.75/1, about 9 min): resnet20 on the
  bundled digits with a 10 % validation split carved per class (every tuning decision is made
  on it, never on the 450 test images) and only ``--train-samples`` (300) of the remaining
  training images, so each run is short and 10 seeds are affordable. On these budgets (widths
  0.5-1) the sub-nets' accuracies stay within their intervals of each other: the digits are
  too easy to show a trade-off.
- ``digits-affine`` (30 epochs, MAC budgets 0.03/0.1/0.3/1, all training images; about
  45 min): the digits under random affine distortion (``pimsim.data.distorted``: every
  training batch distorted afresh, 1,800 fixed distorted test images), where width matters:
  trained alone, the sub-nets of these budgets separate by more than their intervals.

Per seed it trains, at the setting's budgets: ``uniform``, ``multi-path``, ``single-path``
(budget share by samples, the default; by MACs; and with no cost budget), ``ast`` (weight
densities equal to the budgets), and ``individual`` (the uniform architectures of those
budgets, each trained alone). Pairing: seed s of a method is compared with seed s of
``individual`` at the same budget (same data order and initial seed; for the non-uniform methods
the architectures differ at equal MACs; for ``ast`` the pair is by rank, density against MACs).
For each (method, sub-net) the mean paired difference in test top-1 and its 95 % confidence
interval, ``mean +- t(0.975, n-1) * sd / sqrt(n)``, are reported, significant when the interval
excludes 0; per method, whether adjacent sub-nets separate (their accuracy intervals do not
overlap). Writes ``reports/benchmarks/train_methods[_SETTING].csv`` (every run's rows),
``..._cost.csv`` (training cost per method) and ``reports/methods[_SETTING].md`` (markdown
tables to paste into the README; ``--from-csv`` rebuilds them from an earlier run's rows).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from scipy import stats

from pimsim.train import TrainConfig, run_training

BASELINE = "individual"
RUNS = {  # label: TrainConfig options besides the setting's
    "uniform": {"method": "uniform"},
    "multi-path": {"method": "multi-path"},
    "single-path": {"method": "single-path"},
    "single-path, MAC share": {"method": "single-path", "budget_share": "macs"},
    "single-path, no cost budget": {"method": "single-path", "cost_budget": 0},
    "ast": {"method": "ast"},
    BASELINE: {"method": "individual"},
}
SETTINGS = {  # dataset: (budgets, training images (None: all), epochs)
    "digits": ((0.25, 0.5, 0.75, 1.0), 300, 15),
    "digits-affine": ((0.03, 0.1, 0.3, 1.0), None, 30),
}


def train(out: Path, **kwargs) -> tuple[pd.DataFrame, dict]:
    run_training(TrainConfig(**kwargs), out, quiet=True)
    return pd.read_csv(out / "results.csv"), json.loads((out / "cost.json").read_text())


def interval(values: pd.Series) -> tuple[float, float]:
    """Mean and the half-width of its 95 % t confidence interval (nan for one value)."""
    n = len(values)
    if n < 2:
        return float(values.mean()), math.nan
    half = stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n)
    return float(values.mean()), float(half)


def rank_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rank 0 = the largest sub-net (by MACs, then weight density)."""
    order = table.sort_values(["macs", "weight_density"], ascending=False).reset_index(drop=True)
    return order.assign(rank=range(len(order)))


def summarise(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per (method, sub-net): accuracy with its interval; paired differences vs individual."""
    full_macs = rows.macs.max()
    acc, paired = [], []
    base = rows[rows.method == BASELINE].set_index(["seed", "rank"]).top1_float
    for (method, rank), group in rows.groupby(["method", "rank"], sort=False):
        mean, half = interval(group.top1_float * 100)
        acc.append({"method": method, "rank": rank, "subnet": group.subnet.iloc[0],
                    "macs_frac": group.macs.mean() / full_macs,
                    "weight_density": group.weight_density.mean(),
                    "train_steps": group.train_steps.mean(),
                    "train_samples": group.train_samples.mean(),
                    "top1_float_pct": mean, "ci95_pct": half, "seeds": len(group)})
        if method == BASELINE:
            continue
        diff = (group.set_index(["seed", "rank"]).top1_float - base).dropna() * 100
        d_mean, d_half = interval(diff)
        paired.append({"method": method, "subnet": group.subnet.iloc[0],
                       "diff_vs_individual_pct": d_mean, "ci95_pct": d_half,
                       "significant": bool(abs(d_mean) > d_half) if d_half == d_half else False,
                       "pairs": len(diff)})
    acc = pd.DataFrame(acc)
    separated = []
    for _, group in acc.groupby("method", sort=False):
        lo = group.top1_float_pct - group.ci95_pct
        hi = group.top1_float_pct + group.ci95_pct
        separated += [False] + [bool(lo.iloc[i - 1] > hi.iloc[i]) for i in range(1, len(group))]
    acc["separates_from_larger"] = separated
    return acc, pd.DataFrame(paired)


def wide(acc: pd.DataFrame, paired: pd.DataFrame) -> pd.DataFrame:
    """One row per method, one column per sub-net rank (largest first): ``mean +- ci`` and, for
    methods other than individual, the paired difference ``(diff +- ci)``, starred when
    significant; ``<`` marks a sub-net whose interval lies below the next larger one's."""
    diffs = {(r.method, r.subnet): r for r in paired.itertuples()}
    table: dict[str, dict[str, str]] = {}
    for r in acc.itertuples():
        cell = f"{r.top1_float_pct:.1f} ± {r.ci95_pct:.1f}" + (
            " <" if r.separates_from_larger else "")
        d = diffs.get((r.method, r.subnet))
        if d is not None:
            cell += (f" ({d.diff_vs_individual_pct:+.1f} ± {d.ci95_pct:.1f}"
                     f"{'*' if d.significant else ''})")
        table.setdefault(r.method, {"method": r.method})[f"rank {r.rank}"] = \
            f"{r.subnet}: {cell}"
    return pd.DataFrame(list(table.values()))


def steps(acc: pd.DataFrame) -> pd.DataFrame:
    """Optimizer steps each sub-net took part in (mean over seeds), per method and rank."""
    return acc.pivot(index="method", columns="rank", values="train_steps").rename(
        columns=lambda r: f"rank {r}").reindex(acc.method.unique()).reset_index()


def report(rows: pd.DataFrame, head: str, cost: pd.DataFrame | None) -> str:
    """The markdown of a run: compact, per-sub-net and paired tables, and the training cost."""
    acc, paired = summarise(rows)
    parts = ["## Compact view\n\n" + head + " Cells: sub-net: mean ± 95 % interval; `<`: "
             "below the next larger sub-net's interval; in brackets the paired difference "
             "against `individual`, `*` significant.", markdown(wide(acc, paired)),
             "## Optimizer steps per sub-net (mean over seeds)", markdown(steps(acc)),
             "## Sub-nets per method", markdown(acc.drop(columns=["rank"])),
             "## Paired differences against `individual` (same seed, same budget)",
             markdown(paired)]
    if cost is not None:
        parts += ["## Training cost (mean over seeds)", markdown(cost)]
    return "\n\n".join(parts) + "\n"


def markdown(table: pd.DataFrame) -> str:
    """A GitHub markdown table (floats with 3 significant decimals)."""
    def cell(v: object) -> str:
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            return "n/a" if math.isnan(v) else f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"
        return str(v)
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in table.itertuples(index=False)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=tuple(SETTINGS), default="digits")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, help="default: the setting's")
    parser.add_argument("--quick", action="store_true", help="2 seeds, 2 epochs")
    parser.add_argument("--out", default="reports")
    parser.add_argument("--from-csv", help="summarise the rows CSV of an earlier run (no "
                        "training; its cost CSV beside it, if any)")
    args = parser.parse_args()
    budgets, train_samples, epochs = SETTINGS[args.dataset]
    args.epochs = args.epochs or epochs
    if args.quick:
        args.seeds, args.epochs = 2, 2
    torch.set_num_threads(1)
    suffix = "" if args.dataset == "digits" else "_" + args.dataset.replace("-", "_")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    images = "all" if train_samples is None else str(train_samples)
    setting = (f"resnet20 on {args.dataset}, MAC budgets {'/'.join(map(str, budgets))}, "
               f"{images} training images (10 % of the training data held out for "
               f"validation), {args.epochs} epochs, {args.seeds} seeds, one thread; test top-1 "
               "in %, 95 % t intervals")
    if args.from_csv:
        rows = pd.read_csv(args.from_csv)
        cost_csv = Path(args.from_csv).with_name(Path(args.from_csv).stem + "_cost.csv")
        cost = pd.read_csv(cost_csv) if cost_csv.is_file() else None
        text = report(rows, setting + ".", cost)
        (out / f"methods{suffix}.md").write_text(text)
        print(text)
        return
    rows, costs = [], []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            common = {"dataset": args.dataset, "budgets": budgets, "epochs": args.epochs,
                      "seed": seed, "train_samples": train_samples}
            for label, options in RUNS.items():
                folder = Path(tmp) / f"seed{seed}" / label.replace(" ", "_").replace(",", "")
                table, cost = train(folder, **options, **common)
                for row in rank_rows(table).to_dict("records"):
                    rows.append({**row, "method": label, "seed": seed})
                costs.append({"method": label, "seed": seed, "wall_s": cost["wall_s"],
                              "optimizer_steps": cost["optimizer_steps"],
                              "mac_cost_vs_full": cost["cost_vs_full_model_training"]})
            print(f"seed {seed} done after {time.perf_counter() - start:.0f} s", flush=True)
    table = pd.DataFrame(rows)
    (out / "benchmarks").mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "benchmarks" / f"train_methods{suffix}.csv", index=False)
    cost = pd.DataFrame(costs).groupby("method", sort=False).mean(numeric_only=True) \
        .drop(columns="seed").reset_index()
    cost.to_csv(out / "benchmarks" / f"train_methods{suffix}_cost.csv", index=False)
    text = report(table, f"{setting}; wall time {time.perf_counter() - start:.0f} s.", cost)
    (out / f"methods{suffix}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
