"""Wall time of every notebook under nbval, one after the other as in ``make test`` (goal: all <= 5 min),
measured side by side in one run: kernels attached to the lab cluster (as ``make test`` runs them) and kernels
each starting a driver of their own (``LAKEHOUSE_LAB_OWN_DRIVER=1``). The cluster's own start is counted.

Printed per notebook (and written to benchmarks/results/notebooks.json), never asserted.

    python benchmarks/bench_notebooks.py [notebooks/0*.ipynb ...]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "scripts")]
from common import save  # noqa: E402
from run_notebooks import ROOT, lab_cluster, run  # noqa: E402

GOAL_SECONDS = 300.0


def main(args: list[str]) -> None:
    notebooks = [Path(a) for a in args] or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    started = time.perf_counter()
    with lab_cluster():
        cluster_start = time.perf_counter() - started
        attached = run(notebooks)
    own = run(notebooks, {"LAKEHOUSE_LAB_OWN_DRIVER": "1"})
    total_attached = cluster_start + sum(s for s, _ in attached.values())
    total_own = sum(s for s, _ in own.values())
    print(f"\n{'notebook':32} {'cluster':>8} {'own JVM':>8}")
    for name in attached:
        print(f"{name:32} {attached[name][0]:8.1f} {own[name][0]:8.1f}")
    print(f"{'cluster start':32} {cluster_start:8.1f}")
    print(f"{'total':32} {total_attached:8.1f} {total_own:8.1f}")
    failed = [f"{name} ({how})" for how, times in (("cluster", attached), ("own", own))
              for name, (_, passed) in times.items() if not passed]
    save("notebooks", {"cluster_start": round(cluster_start, 1),
                       **{f"{k} (cluster)": s for k, (s, _) in attached.items()},
                       **{f"{k} (own JVM)": s for k, (s, _) in own.items()},
                       "total (cluster)": round(total_attached, 1), "total (own JVM)": round(total_own, 1)},
         {"suite_vs_5min_goal": total_attached / GOAL_SECONDS, "cluster_vs_own_jvm": total_attached / total_own},
         notes=f"failed: {', '.join(failed) or 'none'}")


if __name__ == "__main__":
    main(sys.argv[1:])
