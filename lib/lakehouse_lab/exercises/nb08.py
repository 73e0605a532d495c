"""Checks of the capstone (notebook 08): each step of the inventory project is verified on the real tables.

>>> from lakehouse_lab.exercises import nb08 as ex
>>> [q.var for q in (ex.q1, ex.q2, ex.q3, ex.q4, ex.q5)]
['dev_deployment', 'gold_upstream', 'dev_job_result', 'prod_deployment', 'monitor']
"""
from __future__ import annotations

from .core import Problem

PIPELINE, JOB = "inventory_pipeline", "inventory_job_prod"


def _spark():
    import lakehouse_lab as lab

    return lab.start()


def _table(catalog: str, name: str) -> str:
    return f"{catalog}.analytics.{name}"


def _check_deployment(d, catalog: str) -> str | None:
    from ..environments.deploy import Deployment

    if not isinstance(d, Deployment):
        return "Assign what `deploy(...)` returns."
    if d.result != "SUCCEEDED":
        return f"The deployment {d.result}: {d.message}. Read the pipeline's events, fix the definition, deploy again."
    spark = _spark()
    for name in ("silver_products", "gold_product_sales"):
        if not spark.catalog.tableExists(_table(catalog, name)):
            return f"{_table(catalog, name)} does not exist: name the datasets silver_products and gold_product_sales."
    bad = spark.table(_table(catalog, "silver_products")).where("product_id IS NULL OR price <= 0").count()
    if bad:
        return f"silver_products holds {bad} row(s) without an id or with a non-positive price: add expectations."
    return None


def _check_q1(d) -> str | None:
    problem = _check_deployment(d, "dev_catalog")
    if problem:
        return problem
    quality = _spark().sql(
        "SELECT count(*) FROM system.lakeflow.pipeline_events e JOIN system.lakeflow.pipeline_updates u "
        "ON e.update_id = u.update_id WHERE u.catalog = 'dev_catalog' AND u.pipeline_name LIKE concat('%', :p) "
        "AND u.start_time >= :since AND e.flow_name = 'silver_products' "
        "AND get_json_object(e.details, '$.flow_progress.data_quality.expectations') IS NOT NULL",
        args={"p": PIPELINE, "since": d.started_at}).first()[0]
    return None if quality else "No data-quality metrics for silver_products: declare CONSTRAINT … EXPECT in it."


q1 = Problem("q1", "Deploy the inventory bundle to dev (running its pipeline): silver_products with expectations, "
                   "gold_product_sales from it.", check=_check_q1,
             hints=["`deploy(project.path, 'dev', run=True)` runs every pipeline of the bundle.",
                    "Expectations: `CONSTRAINT name EXPECT (condition) ON VIOLATION DROP ROW`."],
             solution="dev_deployment = deploy(project.path, 'dev', run=True)", var="dev_deployment")


def _lineage_upstream() -> set[str]:
    rows = _spark().sql("SELECT DISTINCT source_table_full_name FROM system.access.table_lineage "
                        "WHERE target_table_full_name = :t AND source_table_full_name IS NOT NULL",
                        args={"t": _table("dev_catalog", "gold_product_sales")}).collect()
    return {r[0] for r in rows}


def _check_q2(answer) -> str | None:
    expected = _lineage_upstream()
    if not {_table("dev_catalog", "silver_products"), "dev_catalog.bronze.raw_orders"} <= expected:
        return f"Lineage of gold_product_sales shows {sorted(expected)}; deploy to dev first (q1)."
    if not isinstance(answer, (set, list, tuple)):
        return "Give the upstream tables as a set of full names."
    return None if set(answer) == expected else f"Not the lineage's answer: {sorted(set(answer) ^ expected)} differ."


q2 = Problem("q2", "Which tables does dev's gold_product_sales read? Answer from system.access.table_lineage.",
             check=_check_q2,
             hints=["Filter on `target_table_full_name` with a parameter, take `source_table_full_name`."],
             solution=('gold_upstream = {r[0] for r in spark.sql(\n'
                       '    "SELECT DISTINCT source_table_full_name FROM system.access.table_lineage "\n'
                       '    "WHERE target_table_full_name = :t AND source_table_full_name IS NOT NULL",\n'
                       '    args={"t": "dev_catalog.analytics.gold_product_sales"}).collect()}'),
             var="gold_upstream")


def _check_q3(answer) -> str | None:
    if answer == "SUCCESS":
        return None
    return f"The job ended {answer!r}; `run('inventory_job', project.path, 'dev')` returns (state, summary)."


q3 = Problem("q3", "Run the bundle's job inventory_job in dev; give its result state.", check=_check_q3,
             hints=["`state, summary = run('inventory_job', project.path, 'dev')`."],
             solution="dev_job_result, _ = run('inventory_job', project.path, 'dev')", var="dev_job_result")


def _check_q4(d) -> str | None:
    problem = _check_deployment(d, "prod_catalog")
    if problem:
        return problem
    if d.bundle.target != "prod" or not d.commit:
        return "Deploy target 'prod' from the committed main branch."
    return None


q4 = Problem("q4", "Commit on main and deploy the bundle to prod (running its pipeline).", check=_check_q4,
             hints=["Production deploys refuse a dirty tree: `project.commit(...)` first."],
             solution="project.commit('Inventory pipeline and job')\n"
                      "prod_deployment = deploy(project.path, 'prod', run=True)", var="prod_deployment")


def _check_q5(manager) -> str | None:
    from ..observability import alerts

    if not isinstance(manager, alerts.AlertManager):
        return "Build an `alerts.AlertManager(spark, rules, channels)`."
    rules = [r for r in manager.rules if isinstance(r, alerts.NoSuccessfulRun) and r.job_name == JOB]
    if not rules:
        return f"Add a NoSuccessfulRun rule for the prod job {JOB!r}."
    sent = _spark().sql("SELECT count(*) FROM system.lakeflow.alert_deliveries WHERE rule = 'no_successful_run' "
                        "AND status = 'SENT' AND summary LIKE concat('%', :job, '%')", args={"job": JOB}).first()[0]
    return None if sent else "No alert for the prod job was delivered yet: call `monitor.evaluate()`."


q5 = Problem("q5", f"Monitor prod: an alert manager with a NoSuccessfulRun rule for {JOB!r} mailing the on-call "
                   "address, evaluated once.", check=_check_q5,
             hints=["`alerts.NoSuccessfulRun(job_name=..., hours=24, channels=('email',))`."],
             solution=("monitor = alerts.AlertManager(spark, [alerts.NoSuccessfulRun(job_name='inventory_job_prod', "
                       "hours=24, channels=('email',))],\n"
                       "                               {'email': alerts.Email(('oncall@company.com',), inbox.host, "
                       "inbox.port)})\nmonitor.evaluate()"),
             var="monitor")
