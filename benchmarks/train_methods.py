"""Sub-net generation methods on digits with resnet20: accuracy per sub-net and training cost.

Run: ``.venv/bin/python benchmarks/train_methods.py [--seeds 5] [--epochs 15]``
(about 15 minutes on 2 cores). For each seed it trains:
- ``uniform``, ``multi-path``, ``single-path`` at MAC budgets 0.25/0.5/0.75/1.0, and
  single-path again with no cost budget (``--cost-budget 0``),
- ``ast`` at weight densities 0.25/0.5/0.75/1.0,
- ``individual`` twice: the single-path run's (non-uniform) architectures and the uniform
  run's architectures, each trained alone: the baselines of the joint methods.
It prints, per method and sub-net, the mean (and std) over seeds of MACs and top-1, and per
method the training cost: wall time, forward passes, optimizer steps, and two ratios against
training the full model alone for the same epochs (measured in the same run: the individual
run's full sub-net): MAC-weighted forward cost and wall time.
Results are written to ``reports/benchmarks/train_methods.csv``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import pandas as pd

from pimsim.train import TrainConfig, run_training

BUDGETS = [0.25, 0.5, 0.75, 1.0]


def train(out: Path, **kwargs) -> tuple[pd.DataFrame, dict]:
    run_training(TrainConfig(**kwargs), out, quiet=True)
    return pd.read_csv(out / "results.csv"), json.loads((out / "cost.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    rows, costs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            base = Path(tmp) / f"seed{seed}"
            common = {"epochs": args.epochs, "seed": seed}
            runs = {}
            for method in ("uniform", "multi-path", "single-path", "ast"):
                runs[method] = train(base / method, method=method, budgets=BUDGETS, **common)
            runs["single-path, no cost budget"] = train(
                base / "sp_free", method="single-path", budgets=BUDGETS, cost_budget=0,
                **common)
            runs["individual (single-path archs)"] = train(
                base / "ind_sp", method="individual",
                specs_file=str(base / "single-path" / "subnets.yaml"), **common)
            runs["individual (uniform archs)"] = train(
                base / "ind_u", method="individual",
                specs_file=str(base / "uniform" / "subnets.yaml"), **common)
            ind = runs["individual (uniform archs)"][1]
            full_wall = ind["phases"]["individual/b1"]["wall_s"]
            for name, (table, cost) in runs.items():
                for i, row in table.iterrows():
                    rows.append({**row.to_dict(), "method": name, "seed": seed, "rank": i})
                costs.append({"method": name, "seed": seed, "wall_s": cost["wall_s"],
                              "forward_passes": cost["forward_passes"],
                              "optimizer_steps": cost["optimizer_steps"],
                              "mac_cost_vs_full": cost["cost_vs_full_model_training"],
                              "wall_vs_full": cost["wall_s"] / full_wall})
    table = pd.DataFrame(rows)
    out = Path("reports/benchmarks")
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "train_methods.csv", index=False)
    summary = (table.groupby(["method", "subnet"], sort=False)
               .agg(macs=("macs", "mean"), density=("weight_density", "mean"),
                    top1_mean=("top1", "mean"), top1_std=("top1", "std"))
               .reset_index())
    summary["macs_frac"] = summary.macs / table.macs.max()
    summary["top1_mean"] *= 100
    summary["top1_std"] *= 100
    print(f"resnet20 on digits, {args.epochs} epochs, mean over {args.seeds} seeds")
    print(summary[["method", "subnet", "macs", "macs_frac", "density", "top1_mean",
                   "top1_std"]].to_markdown(index=False, floatfmt=".3f")
          if _has_tabulate() else summary.to_string(index=False))
    cost = pd.DataFrame(costs).groupby("method", sort=False).mean(numeric_only=True)
    print("\ntraining cost (mean over seeds)")
    print(cost.drop(columns="seed").to_string(float_format=lambda v: f"{v:.3f}"))


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
