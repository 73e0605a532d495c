"""Small Spark writes run side by side: each call sees the caller's local properties; errors are not lost."""
from __future__ import annotations

import threading
import time

import pytest

from lakehouse_lab.parallel import Background, side_by_side


def test_calls_run_at_once_and_inherit_the_callers_local_properties(spark):
    spark.sparkContext.setLocalProperty("lakehouse_lab.test.mark", "caller")
    both_running = threading.Barrier(2, timeout=30)  # broken (an error) unless the two calls overlap

    def call(n):
        both_running.wait()
        return n, spark.sparkContext.getLocalProperty("lakehouse_lab.test.mark")

    try:
        assert side_by_side(spark, lambda: call(1), lambda: call(2)) == [(1, "caller"), (2, "caller")]
    finally:
        spark.sparkContext.setLocalProperty("lakehouse_lab.test.mark", None)


def test_the_first_error_is_raised_after_every_call_ended(spark):
    ended = []

    def slow():
        time.sleep(0.3)
        ended.append("slow")

    def fail(name):
        raise ValueError(name)

    with pytest.raises(ValueError, match="first"):
        side_by_side(spark, lambda: fail("first"), slow, lambda: fail("second"))
    assert ended == ["slow"]
    assert spark.range(3).count() == 3  # the session is still usable


def test_background_calls_run_in_order_off_the_callers_thread_and_errors_are_ignored(spark):
    spark.sparkContext.setLocalProperty("lakehouse_lab.test.mark", "caller")
    seen = []

    def call(n):
        time.sleep(0.05)
        seen.append((n, threading.current_thread() is threading.main_thread(),
                     spark.sparkContext.getLocalProperty("lakehouse_lab.test.mark")))

    def fail():
        raise ValueError("ignored")

    try:
        with Background(spark) as later:
            for n in range(3):
                later.submit(lambda n=n: call(n))
                if n == 1:
                    later.submit(fail)
            assert len(seen) < 3  # the caller went on
    finally:
        spark.sparkContext.setLocalProperty("lakehouse_lab.test.mark", None)
    assert seen == [(0, False, "caller"), (1, False, "caller"), (2, False, "caller")]  # all done on leaving
