"""Wall time of every notebook under nbval, one after the other, as ``make test`` runs them (goal: all <= 5 min).

Printed per notebook, slowest first (and written to benchmarks/results/notebooks.json), never asserted.

    python benchmarks/bench_notebooks.py [notebooks/0*.ipynb ...]
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save  # noqa: E402

GOAL_SECONDS = 300.0
ROOT = Path(__file__).resolve().parent.parent


def main(paths: list[str]) -> None:
    notebooks = [Path(p) for p in paths] or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    env = {**os.environ, "LAKEHOUSE_LAB_STRICT": "1"}
    figures, failed = {}, []
    for notebook in notebooks:
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", "--nbval-lax", "-p", "no:cacheprovider",
                                str(notebook)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        figures[notebook.stem] = round(time.perf_counter() - started, 1)
        if code:
            failed.append(notebook.stem)
        print(f"{notebook.stem:32} {figures[notebook.stem]:7.1f} s {'FAILED' if code else ''}", flush=True)
    total = sum(figures.values())
    print("slowest first:", ", ".join(f"{k} {v:.0f} s" for k, v in sorted(figures.items(), key=lambda kv: -kv[1])))
    save("notebooks", {**figures, "total": round(total, 1)}, {"suite_vs_5min_goal": total / GOAL_SECONDS},
         notes=f"failed: {', '.join(failed) or 'none'}")


if __name__ == "__main__":
    main(sys.argv[1:])
