"""Wall time of every notebook under nbval, one after the other as in ``make test`` (goal: all <= 5 min).

Printed per notebook (and written to benchmarks/results/notebooks.json), never asserted.

    python benchmarks/bench_notebooks.py [notebooks/0*.ipynb ...]
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "scripts")]
from common import save  # noqa: E402
from run_notebooks import ROOT, run  # noqa: E402

GOAL_SECONDS = 300.0


def main(args: list[str]) -> None:
    notebooks = [Path(a) for a in args] or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    times = run(notebooks)
    total = sum(seconds for seconds, _ in times.values())
    failed = [name for name, (_, passed) in times.items() if not passed]
    save("notebooks", {**{k: s for k, (s, _) in times.items()}, "total": round(total, 1)},
         {"suite_vs_5min_goal": total / GOAL_SECONDS}, notes=f"failed: {', '.join(failed) or 'none'}")


if __name__ == "__main__":
    main(sys.argv[1:])
