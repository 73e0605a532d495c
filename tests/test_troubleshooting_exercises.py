"""Notebook 07's exercises: a wrong and a right attempt each."""
from __future__ import annotations

from lakehouse_lab.exercises import nb07 as ex


def test_q1_root_cause_task(spark, monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_LAB_STRICT", raising=False)
    run = ex.failing_run()
    assert run.result_state == "FAILED"
    blocked = ex.q1.check("publish")
    assert blocked.status == "incorrect" and "UPSTREAM_FAILED" in blocked.message
    assert ex.q1.check("clean").status == "incorrect"
    assert ex.q1.check("enrich").status == "correct"


def test_q2_failed_expectation(spark, monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_LAB_STRICT", raising=False)
    update = ex.broken_update()
    assert update.state == "FAILED"
    passed = ex.q2.check("positive_quantity")
    assert passed.status == "incorrect" and "passed" in passed.message
    assert ex.q2.check("amount_check").status == "incorrect"
    assert ex.q2.check("known_currency").status == "correct"
