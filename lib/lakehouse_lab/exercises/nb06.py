"""Exercises of notebook 06 (observability: system tables, dashboard, alerts).

>>> from lakehouse_lab.exercises import nb06 as ex
>>> ex.q2.var
'quality_rule'
"""
from __future__ import annotations

from .core import Problem

WINDOW_DAYS = 30  # q2 looks back over the whole generated history, which has quality drops (seed 7)


def _spark():
    import lakehouse_lab as lab

    return lab.start()


def _generated_failures() -> int:
    from ..observability import generator

    return _spark().sql("SELECT count(*) FROM system.lakeflow.job_runs WHERE job_name = :job "
                        "AND trigger = 'GENERATED' AND result_state = 'FAILED'",
                        args={"job": generator.COURSE_JOB}).first()[0]


def _check_q1(answer) -> str | None:
    expected = _generated_failures()
    if answer == expected:
        return None
    if not isinstance(answer, int):
        return f"Return a number (an int), not {type(answer).__name__}."
    return (f"{answer} is not the number of generated FAILED runs of the course job. Filter on job_name, "
            "trigger = 'GENERATED' and result_state = 'FAILED' (TIMEDOUT is a different state).")


q1 = Problem(
    "q1", "How many generated runs of the course job (lakehouse_lab_main_job) ended FAILED? Query "
          "system.lakeflow.job_runs with parameters.",
    check=_check_q1,
    hints=["Generated runs carry `trigger = 'GENERATED'`.",
           "`spark.sql(q, args={'job': ...}).first()[0]` gives the count."],
    solution=('failed_runs = spark.sql("SELECT count(*) FROM system.lakeflow.job_runs WHERE job_name = :job "\n'
              '                        "AND trigger = \'GENERATED\' AND result_state = \'FAILED\'",\n'
              '                        args={"job": "lakehouse_lab_main_job"}).first()[0]'),
    var="failed_runs")


def _check_q2(rule) -> str | None:
    from ..observability import alerts

    if not isinstance(rule, alerts.PassRateBelow):
        return "Build an `alerts.PassRateBelow(...)` rule."
    if rule.threshold != 0.97:
        return f"The threshold is {rule.threshold}; the question asks for 97% (0.97)."
    if rule.expectation not in ("valid_order_id", "silver_orders.valid_order_id"):
        return "Restrict the rule to the expectation valid_order_id."
    if rule.hours < WINDOW_DAYS * 24:
        return f"The rule looks back {rule.hours} hours; {WINDOW_DAYS} days are {WINDOW_DAYS * 24}."
    found = rule.evaluate(_spark())
    if not found:
        return "The rule finds no update; check the threshold and the expectation name."
    return None


q2 = Problem(
    "q2", f"Build a rule that raises an alert for every pipeline update of the last {WINDOW_DAYS} days (the "
          "generated history) in which the expectation valid_order_id passed less than 97% of the records.",
    check=_check_q2,
    hints=["`alerts.PassRateBelow(expectation=..., threshold=..., hours=...)`.",
           "Thresholds are fractions: 97% is 0.97."],
    solution=f'quality_rule = alerts.PassRateBelow(expectation="valid_order_id", threshold=0.97, '
             f'hours={WINDOW_DAYS} * 24)',
    var="quality_rule")
