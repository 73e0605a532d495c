"""Run notebooks under nbval one by one (as ``make test`` does) and print each one's wall time.

    python scripts/run_notebooks.py notebooks/00_setup_and_tour.ipynb notebooks/01_unity_catalog_lineage.ipynb

Exit status 1 when any notebook failed. ``LAKEHOUSE_LAB_STRICT=1`` is set, so exercise solutions must pass.
The lab cluster runs for the whole suite, so each notebook's ``lab.start()`` attaches to one warm driver (as
notebooks attach to a Databricks cluster); ``LAKEHOUSE_LAB_OWN_DRIVER=1`` gives every notebook its own instead.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(notebooks: list[Path]) -> dict[str, tuple[float, bool]]:
    """``{notebook stem: (seconds, passed)}``, printing a line per notebook as it finishes."""
    env = {**os.environ, "LAKEHOUSE_LAB_STRICT": "1"}
    times = {}
    for notebook in notebooks:
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", "--nbval-lax", str(notebook)], env=env, cwd=ROOT)
        times[notebook.stem] = (round(time.perf_counter() - started, 1), code == 0)
        print(f"--- {notebook.stem}: {'passed' if code == 0 else 'FAILED'} in {times[notebook.stem][0]:.0f} s",
              flush=True)
    return times


def main(args: list[str]) -> int:
    from lakehouse_lab import cluster, driver

    notebooks = [Path(a) for a in args] or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    own_cluster = driver.enabled() and cluster.status() is None
    if own_cluster:
        print(f"lab cluster started in {_start_cluster(cluster):.0f} s", flush=True)
    try:
        times = run(notebooks)
    finally:
        if own_cluster:
            cluster.stop()
    print("\nnotebook wall time (s):")
    for name, (seconds, passed) in times.items():
        print(f"  {name:32} {seconds:7.1f}  {'' if passed else 'FAILED'}")
    print(f"  {'total':32} {sum(s for s, _ in times.values()):7.1f}")
    return 0 if all(p for _, p in times.values()) else 1


def _start_cluster(cluster) -> float:
    started = time.perf_counter()
    cluster.start()
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
