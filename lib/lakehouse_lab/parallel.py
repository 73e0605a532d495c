"""Small Spark writes run side by side from one process.

Most of a small Delta write is the driver's own work (planning, the commit, reading the log back), not the
executors', so two or three of them overlap well even on two cores: the event log's three appends take about
as long as one. Each call runs in a thread that inherits the caller's Spark local properties (the job group a
killed kernel's jobs are cancelled by, the lineage marks).

>>> side_by_side(None, lambda: 1, lambda: 2)
[1, 2]
>>> with Background(None) as later:
...     later.submit(lambda: None)
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor


def side_by_side(spark, *calls) -> list:
    """Run ``calls`` at once on ``spark``'s driver; their results in order. When calls fail, the first one's
    error (in the order given) is raised, after every call has ended."""
    if spark is None or len(calls) < 2:
        return [call() for call in calls]
    from pyspark import inheritable_thread_target

    with ThreadPoolExecutor(len(calls), thread_name_prefix="lab-side-by-side") as pool:
        futures = [pool.submit(inheritable_thread_target(spark)(call)) for call in calls]
        return [future.result() for future in futures]


class Background:
    """Work that helps what comes later but that nothing waits for: calls run one after the other on one thread
    while the caller goes on. A failing call is ignored (whatever needed its result does the work again and
    raises). Leaving the ``with`` block waits for the calls still running; without a session they run at once."""

    def __init__(self, spark):
        self.spark, self._pool = spark, None

    def submit(self, call) -> None:
        if self.spark is None:
            _ignoring_errors(call)
            return
        if self._pool is None:
            from pyspark import inheritable_thread_target

            self._pool = ThreadPoolExecutor(1, thread_name_prefix="lab-background")
            self._wrap = inheritable_thread_target(self.spark)
        self._pool.submit(self._wrap(_ignoring_errors), call)

    def __enter__(self) -> "Background":
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def _ignoring_errors(call) -> None:
    try:
        call()
    except Exception:  # noqa: BLE001 - see Background
        pass
