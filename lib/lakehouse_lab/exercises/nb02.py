"""Exercises of ``02_delta_live_tables``: declare a gold table in pipeline SQL, read the event log.

>>> from lakehouse_lab.exercises import nb02
>>> nb02.q1.name, nb02.q2.name
('q1', 'q2')
"""
from __future__ import annotations

from .core import Problem

PIPELINE_NAME = "orders_pipeline"


def _course_folder():
    from lakehouse_lab import paths

    return paths.project_root() / "notebooks" / "pipelines" / "orders"


def _gold_daily_revenue(answer) -> str | None:
    import lakehouse_lab as lab
    from lakehouse_lab.pipelines import Pipeline, PipelineDefinitionError, run_pipeline
    from lakehouse_lab.pipelines.sql_parser import parse_sql

    if not isinstance(answer, str):
        return f"Expected the SQL definition as a string, got {type(answer).__name__}."
    try:
        (ds,) = parse_sql(answer, "answer.sql")
    except (PipelineDefinitionError, ValueError) as exc:
        return f"Your definition does not parse: {exc}"
    if ds.name != "gold_daily_revenue" or ds.kind != "materialized_view":
        return f"Declare a LIVE TABLE (materialized view) named gold_daily_revenue, not a {ds.kind} {ds.name!r}."
    if "live.silver_orders" not in answer.lower():
        return "Read the silver table of the pipeline: FROM LIVE.silver_orders."
    pipeline = Pipeline.load(_course_folder(), name=PIPELINE_NAME)
    pipeline.add(ds)
    update = run_pipeline(pipeline)
    if update.state != "COMPLETED":
        return f"The update failed: {update.error}"
    spark = lab.start()
    got = spark.table(lab.table("gold_daily_revenue"))
    if {"order_date", "revenue"} - set(got.columns):
        return f"Name the columns order_date and revenue (you have {', '.join(got.columns)})."
    expected = spark.table(lab.table("silver_orders")).groupBy("order_date").sum("amount").count()
    if got.count() != expected:
        return f"Expected one row per order_date ({expected}), got {got.count()}: GROUP BY order_date."
    total = spark.table(lab.table("silver_orders")).agg({"amount": "sum"}).first()[0]
    if abs(float(got.agg({"revenue": "sum"}).first()[0]) - float(total)) > 0.01:
        return "The revenues do not add up to the silver table's total amount: revenue is SUM(amount)."
    return None


def _bronze_rows_last_update(answer) -> str | None:
    import json

    import lakehouse_lab as lab

    if not isinstance(answer, int) or isinstance(answer, bool):
        return f"Expected a number of rows (an int), got {type(answer).__name__}."
    log = lab.event_log(PIPELINE_NAME)
    last = log.where("event_type = 'create_update'").orderBy("timestamp", ascending=False).first()
    row = log.where(f"event_type = 'flow_progress' AND origin.update_id = '{last.origin.update_id}' "
                    "AND origin.flow_name = 'bronze_orders' AND details LIKE '%num_output_rows%'").first()
    if row is None:
        return "The latest update did not run bronze_orders: run the pipeline again, then count."
    expected = json.loads(row.details)["flow_progress"]["metrics"]["num_output_rows"]
    if answer == lab.start().table(lab.table("bronze_orders")).count() and answer != expected:
        return "That is every row of bronze_orders: the update only processed the new ones."
    return None if answer == expected else f"{answer} is not what the latest update wrote into bronze_orders."


q1 = Problem(
    "q1", "Write the SQL definition of a gold table gold_daily_revenue (order_date, revenue = SUM(amount)) "
          "computed from LIVE.silver_orders, as a string.",
    check=_gold_daily_revenue, var="gold_sql",
    hints=["CREATE OR REFRESH LIVE TABLE gold_daily_revenue AS SELECT ... FROM LIVE.silver_orders ...",
           "SELECT order_date, SUM(amount) AS revenue FROM LIVE.silver_orders GROUP BY order_date"],
    solution=('gold_sql = """CREATE OR REFRESH LIVE TABLE gold_daily_revenue\n'
              'COMMENT "Revenue per day"\n'
              'AS SELECT order_date, SUM(amount) AS revenue FROM LIVE.silver_orders GROUP BY order_date"""'),
)

q2 = Problem(
    "q2", "From the event log, how many rows did the latest update write into bronze_orders?",
    check=_bronze_rows_last_update, var="bronze_rows",
    hints=["lab.event_log('orders_pipeline') has flow_progress events; origin.flow_name names the flow.",
           "get_json_object(details, '$.flow_progress.metrics.num_output_rows') on the newest COMPLETED "
           "flow_progress event of bronze_orders."],
    solution=("bronze_rows = int(lab.event_log('orders_pipeline')\n"
              "    .where(\"event_type = 'flow_progress' AND origin.flow_name = 'bronze_orders' AND level != 'ERROR'\")\n"
              "    .selectExpr(\"get_json_object(details, '$.flow_progress.metrics.num_output_rows') AS n\")\n"
              "    .where('n IS NOT NULL').first().n)"),
)
