"""Exercises of ``03_data_quality_expectations``: write a constraint, read quality metrics.

>>> from lakehouse_lab.exercises import nb03
>>> nb03.q1.name, nb03.q2.name
('q1', 'q2')
"""
from __future__ import annotations

from .core import Problem

PIPELINE_NAME = "quality_pipeline"
STATUSES = ["pending", "completed", "cancelled", "refunded", "PENDING", None]


def _status_constraint(answer) -> str | None:
    import lakehouse_lab as lab
    from lakehouse_lab.pipelines import PipelineDefinitionError
    from lakehouse_lab.pipelines.sql_parser import parse_sql

    if not isinstance(answer, str):
        return f"Expected the CONSTRAINT clause as a string, got {type(answer).__name__}."
    try:
        (ds,) = parse_sql(f"CREATE OR REFRESH LIVE TABLE t (\n{answer}\n) AS SELECT 1", "answer.sql")
    except (PipelineDefinitionError, ValueError) as exc:
        return f"Your clause does not parse: {exc}"
    if len(ds.expectations) != 1:
        return f"Write exactly one CONSTRAINT (found {len(ds.expectations)})."
    rule = ds.expectations[0]
    if rule.action != "drop":
        return f"The rows must be dropped, not {'kept' if rule.action == 'warn' else 'fail the update'}: " \
               "ON VIOLATION DROP ROW."
    spark = lab.start()
    sample = spark.createDataFrame([(s,) for s in STATUSES], "status STRING")
    dropped = sorted(str(r.status) for r in sample.where(rule.violated()).collect())
    if dropped != ["PENDING", "refunded"]:
        return f"On statuses {STATUSES} your rule drops {dropped}; it should drop only the unknown ones " \
               "('refunded', 'PENDING'). NULL passes an expectation unless the condition says otherwise."
    return None


def _failed_amounts(answer) -> str | None:
    import json

    import lakehouse_lab as lab

    if not isinstance(answer, int) or isinstance(answer, bool):
        return f"Expected a number of records (an int), got {type(answer).__name__}."
    log = lab.event_log(PIPELINE_NAME)
    row = log.where("event_type = 'flow_progress' AND origin.flow_name = 'checked_orders' "
                    "AND details LIKE '%data_quality%'").orderBy("timestamp", ascending=False).first()
    rules = json.loads(row.details)["flow_progress"]["data_quality"]["expectations"]
    expected = next(r["failed_records"] for r in rules if r["name"] == "valid_amount_range")
    return None if answer == expected else f"{answer} is not the failed_records of valid_amount_range in the " \
                                           "latest quality metrics of checked_orders."


q1 = Problem(
    "q1", "Write a SQL CONSTRAINT clause named valid_status that drops rows whose status is not "
          "pending, completed or cancelled.",
    check=_status_constraint, var="status_constraint",
    hints=["CONSTRAINT valid_status EXPECT (<condition>) ON VIOLATION DROP ROW",
           "The condition: status IN ('pending', 'completed', 'cancelled')"],
    solution=("status_constraint = \"CONSTRAINT valid_status EXPECT (status IN ('pending', 'completed', "
              "'cancelled')) ON VIOLATION DROP ROW\""),
)

q2 = Problem(
    "q2", "From the event log of quality_pipeline, how many records failed valid_amount_range in the latest "
          "flow_progress event of checked_orders that reported quality metrics?",
    check=_failed_amounts, var="failed_amounts",
    hints=["Filter lab.event_log('quality_pipeline') on event_type = 'flow_progress', origin.flow_name = "
           "'checked_orders' and details containing data_quality; take the newest.",
           "from_json / json.loads the details: flow_progress.data_quality.expectations[].failed_records"],
    solution=("import json\n"
              "row = (lab.event_log('quality_pipeline')\n"
              "       .where(\"event_type = 'flow_progress' AND origin.flow_name = 'checked_orders' \"\n"
              "              \"AND details LIKE '%data_quality%'\")\n"
              "       .orderBy('timestamp', ascending=False).first())\n"
              "rules = json.loads(row.details)['flow_progress']['data_quality']['expectations']\n"
              "failed_amounts = next(r['failed_records'] for r in rules if r['name'] == 'valid_amount_range')"),
)
