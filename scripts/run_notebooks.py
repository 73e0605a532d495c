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
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(notebooks: list[Path], extra_env: dict | None = None) -> dict[str, tuple[float, bool]]:
    """``{notebook stem: (seconds, passed)}``, printing a line per notebook as it finishes.

    All notebooks run in one pytest session (each in a kernel of its own, as nbval does): a pytest process per
    notebook cost ~1.6 s more each, measured side by side."""
    import pytest

    saved = dict(os.environ)
    os.environ.update({"LAKEHOUSE_LAB_STRICT": "1", **(extra_env or {})})
    clock = _NotebookClock()
    try:
        with contextlib.chdir(ROOT):
            code = pytest.main(["-q", "--nbval-lax", *(str(Path(n).resolve()) for n in notebooks)], plugins=[clock])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    clock.finish()
    times = {Path(n).stem: clock.times.get(Path(n).stem, (0.0, False)) for n in notebooks}
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):  # interrupted, usage or internal error
        times = {name: (seconds, False) for name, (seconds, _) in times.items()}
    return times


class _NotebookClock:
    """A pytest plugin: each notebook's wall time, from its first cell's set-up (the kernel's start) to its last
    cell's teardown, and whether every cell passed."""

    def __init__(self):
        self.times: dict[str, tuple[float, bool]] = {}
        self.current: str | None = None
        self.started = self.ended = 0.0
        self.passed = True

    def pytest_runtest_logstart(self, nodeid, location):
        notebook = Path(nodeid.split("::")[0]).stem
        if notebook != self.current:
            self.finish()
            self.current, self.started, self.passed = notebook, time.perf_counter(), True

    def pytest_runtest_logreport(self, report):
        self.passed = self.passed and not report.failed
        self.ended = time.perf_counter()

    def finish(self) -> None:
        if self.current is None or self.current in self.times:
            return
        self.times[self.current] = (round(self.ended - self.started, 1), self.passed)
        print(f"\n--- {self.current}: {'passed' if self.passed else 'FAILED'} in {self.times[self.current][0]:.0f} s",
              flush=True)


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
