"""Troubleshooting drills: each one really breaks, is found in the system tables, and is fixed.

Every drill is walked inject -> detect -> diagnose -> verify (must fail) -> fix -> verify (must pass), in a
schema of its own that is dropped afterwards.
"""
from __future__ import annotations

import uuid

import pytest

from lakehouse_lab.observability import drills


@pytest.fixture(scope="module")
def schema(spark):
    name = f"drills_t{uuid.uuid4().hex[:6]}"
    yield name
    drills.reset(name)


def _walk_to_diagnosis(d):
    d.inject()
    detected = d.detect()
    diagnosis = d.diagnose()
    return detected, diagnosis


def test_unknown_drill_lists_the_valid_names():
    with pytest.raises(KeyError) as err:
        drills.drill("broken_pipeline")
    assert all(name in str(err.value) for name in drills.DRILLS)


def test_reset_refuses_a_schema_that_is_not_a_drill_schema(spark):
    with pytest.raises(ValueError, match="drill schemas"):
        drills.reset("analytics")


def test_resolution_flow_fills_only_the_steps_reached():
    dot = drills.resolution_flow("DLT Failure", reached=4).source
    filled = [line for line in dot.splitlines() if "#ffe08a" in line]
    assert any("Review Pipeline Events" in line for line in filled)
    assert any("Check Data Quality Rules" in line for line in filled)
    assert not any("Analyze Error Logs" in line for line in filled)


def test_steps_must_follow_the_flow(spark, schema):
    d = drills.drill("failing_task", schema=schema)
    with pytest.raises(drills.DrillError, match="inject"):
        d.detect()


def test_broken_expectation(spark, schema):
    d = drills.drill("broken_expectation", schema=schema)
    detected, diagnosis = _walk_to_diagnosis(d)
    assert d.failed.state == "FAILED"
    errors = detected.collect()
    assert {r.state for r in errors} == {"FAILED"} and any(r.event_type == "flow_progress" for r in errors)
    assert diagnosis["expectation"] == "positive_amount" and diagnosis["action"] == "fail"
    assert diagnosis["violating_rows"] == 3 and set(diagnosis["sample"]) == {"R1", "R2", "R3"}
    assert not d.verify()                               # rerunning the same definition fails again
    d.fix()
    verdict = d.verify()
    assert verdict, verdict
    assert verdict.evidence["bad_rows_in_silver"] == 0 and verdict.evidence["quarantined"] == 3
    assert d.latest_errors().count() == 0               # the latest update has no ERROR events
    assert "<svg" in d._repr_html_() and d.stage == "verified"


def test_schema_change_upstream(spark, schema):
    d = drills.drill("schema_change", schema=schema)
    _, diagnosis = _walk_to_diagnosis(d)
    assert d.failed.state == "FAILED" and "UNRESOLVED_COLUMN" in d.failed.error
    assert diagnosis["missing_column"] == "amount"
    assert diagnosis["removed_columns"] == ["amount"] and diagnosis["added_columns"] == ["order_amount"]
    assert not d.verify()
    d.fix()
    verdict = d.verify()
    assert verdict, verdict
    assert "amount" in verdict.evidence["columns"] and verdict.evidence["rows"] == 200


def test_failing_task_is_repaired_in_the_same_run(spark, schema):
    d = drills.drill("failing_task", schema=schema)
    detected, diagnosis = _walk_to_diagnosis(d)
    states = {r.task_key: (r.result_state, r.termination_code) for r in detected.collect()}
    assert states["publish_report"] == ("SKIPPED", "SKIPPED")
    assert states["audit_counts"][0] == "SUCCEEDED"
    assert diagnosis["root_task"] == "convert_currency" and diagnosis["blocked_tasks"] == ["publish_report"]
    assert diagnosis["missing_table"] == d.table("usd_rates")
    assert not d.verify()                               # a repair before the fix fails again
    d.fix()
    verdict = d.verify()
    assert verdict, verdict
    assert verdict.evidence["run_id"] == d.failed.run_id and verdict.evidence["job_runs.repair_count"] == 2


def test_slow_task_gets_faster_with_built_in_functions(spark, schema):
    d = drills.drill("slow_task", schema=schema)
    detected, diagnosis = _walk_to_diagnosis(d)
    assert detected.first().task_key == "weekly_orders"
    assert diagnosis["slow_task"] == "weekly_orders" and diagnosis["python_udf_in_plan"]
    assert "BatchEvalPython" in diagnosis["plan_operators"] and diagnosis["times_slower"] > 1.5
    assert not d.verify()                               # the same UDF again: no speed-up
    d.fix()
    verdict = d.verify()
    assert verdict, verdict
    assert verdict.evidence["same_result"] and not verdict.evidence["python_udf_in_plan"]
    assert verdict.evidence["speedup"] > 1


def test_missing_lineage_appears_once_written_through_the_name(spark, schema):
    d = drills.drill("missing_lineage", schema=schema)
    detected, diagnosis = _walk_to_diagnosis(d)
    assert detected.count() == 0
    assert diagnosis["type"] == "EXTERNAL" and diagnosis["writes_in_history"] == 2
    assert diagnosis["lineage_rows"] == 0 and diagnosis["lineage_rows_for_the_path"] >= 1
    assert not d.verify()                               # another write by path: still no lineage
    d.fix()
    verdict = d.verify()
    assert verdict, verdict
    assert verdict.evidence["upstream"] == [d.table("orders")]
    again = drills.drill("missing_lineage", schema=schema)  # the lineage above is history, not this run's
    again.inject()
    assert again.detect().count() == 0
