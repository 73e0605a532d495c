"""Notebook 04's exercises: a wrong and a right attempt each."""
from __future__ import annotations

from lakehouse_lab.exercises import ____
from lakehouse_lab.exercises import nb04 as ex


def _handler(run_if):
    return {"name": "with_handler", "tasks": ex.BASE_TASKS + [
        {"task_key": "alert", "run_if": run_if, "depends_on": [{"task_key": "extract"}, {"task_key": "transform"}],
         "python_task": {"function": "builtins:print"}}]}


def test_q1_error_handler(monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_LAB_STRICT", raising=False)
    assert ex.q1.check().status == "not attempted"
    assert ex.q1.check(_handler(____)).status == "incorrect"
    wrong = ex.q1.check(_handler("ALL_DONE"))
    assert wrong.status == "incorrect" and "EXCLUDED" in wrong.message
    assert ex.q1.check(_handler("AT_LEAST_ONE_FAILED")).status == "correct"


def _retries(n):
    return {"name": "retry_exercise", "tasks": [{"task_key": "load", "python_task": {"function": ex.flaky_load},
                                                 "max_retries": n, "min_retry_interval_millis": 100}]}


def test_q2_retries(spark, monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_LAB_STRICT", raising=False)
    wrong = ex.q2.check(_retries(1))
    assert wrong.status == "incorrect" and "FAILED after 2 attempt" in wrong.message
    assert ex.q2.check(_retries(-1)).status == "incorrect"
    assert ex.q2.check(_retries(2)).status == "correct"
