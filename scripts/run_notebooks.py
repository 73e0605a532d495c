"""Run notebooks under nbval one by one (as ``make test`` does) and print each one's wall time.

    python scripts/run_notebooks.py notebooks/00_setup_and_tour.ipynb notebooks/01_unity_catalog_lineage.ipynb

Exit status 1 when any notebook failed. ``LAKEHOUSE_LAB_STRICT=1`` is set, so exercise solutions must pass.
The lab cluster runs for the whole suite, so each notebook's ``lab.start()`` attaches to one warm driver (as
notebooks attach to a Databricks cluster); ``LAKEHOUSE_LAB_OWN_DRIVER=1`` gives every notebook its own instead.

The suite runs in a new lab root of its own, ``.lab-notebooks`` (emptied first), as a learner's notebooks do on a
first run: what the unit tests or earlier sessions left in ``.lab`` can neither slow a notebook down nor make one of
its checks pass. ``LAKEHOUSE_LAB_HOME``, when set, is used as it is.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(notebooks: list[Path], extra_env: dict | None = None) -> dict[str, tuple[float, bool]]:
    """``{notebook stem: (seconds, passed)}``, printing a line per notebook as it finishes."""
    env = {**os.environ, "LAKEHOUSE_LAB_STRICT": "1", **(extra_env or {})}
    times = {}
    for notebook in notebooks:
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", "--nbval-lax", str(notebook)], env=env, cwd=ROOT)
        times[notebook.stem] = (round(time.perf_counter() - started, 1), code == 0)
        print(f"--- {notebook.stem}: {'passed' if code == 0 else 'FAILED'} in {times[notebook.stem][0]:.0f} s",
              flush=True)
    return times


@contextlib.contextmanager
def lab_cluster():
    """The lab cluster for the suite: started here (and stopped after) unless one runs or it is turned off."""
    from lakehouse_lab import cluster, driver

    if not driver.enabled() or cluster.status() is not None:
        yield
        return
    started = time.perf_counter()
    cluster.start()
    print(f"lab cluster started in {time.perf_counter() - started:.0f} s", flush=True)
    try:
        yield
    finally:
        cluster.stop()


def own_lab_root() -> None:
    """Point the suite (and every process it starts) at an emptied ``.lab-notebooks``, unless a root is set."""
    if os.environ.get("LAKEHOUSE_LAB_HOME"):
        return
    os.environ["LAKEHOUSE_LAB_HOME"] = str(ROOT / ".lab-notebooks")
    from lakehouse_lab import session

    session.reset()


def main(args: list[str]) -> int:
    notebooks = [Path(a) for a in args] or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    own_lab_root()
    with lab_cluster():
        times = run(notebooks)
    print("\nnotebook wall time (s):")
    for name, (seconds, passed) in times.items():
        print(f"  {name:32} {seconds:7.1f}  {'' if passed else 'FAILED'}")
    print(f"  {'total':32} {sum(s for s, _ in times.values()):7.1f}")
    return 0 if all(p for _, p in times.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
