"""Exercises of ``01_unity_catalog_lineage``: column provenance, and the impact of a change.

>>> from lakehouse_lab.exercises import nb01
>>> nb01.q1.var, nb01.q2.var
('answer_1', 'answer_2')
"""
from __future__ import annotations

from .core import Problem

DEMO = "dev_catalog.lineage_demo"


def _spark():
    import lakehouse_lab as lab

    return lab.start()


def _as_set(answer, what: str) -> tuple[set | None, str | None]:
    if isinstance(answer, (set, frozenset, list, tuple)) and all(isinstance(a, str) for a in answer):
        return set(answer), None
    return None, f"Expected a set of {what} (strings), got {type(answer).__name__}."


def _lifespan_sources(answer) -> str | None:
    got, problem = _as_set(answer, "column names")
    if problem:
        return problem
    from pyspark.sql import functions as F

    rows = _spark().table("system.access.column_lineage").where(
        (F.col("target_table_full_name") == f"{DEMO}.gold_customer_metrics")
        & (F.col("target_column_name") == "customer_lifespan_days"))
    expected = {r.source_column_name for r in rows.select("source_column_name").distinct().collect()}
    if not expected:
        return "No lineage for gold_customer_metrics yet: run the notebook's earlier cells first."
    if got == {f"{DEMO}.silver_orders.order_date"} or any("." in g for g in got):
        return "Store column names only (e.g. 'amount'), not table-qualified names."
    if got != expected:
        return f"{sorted(got)} are not the source columns: filter on target_column_name = 'customer_lifespan_days'."
    return None


def _impact(answer) -> str | None:
    import lakehouse_lab as lab

    got, problem = _as_set(answer, "three-level table names")
    if problem:
        return problem
    direct = {r.table_name for r in lab.lineage.downstream(f"{DEMO}.silver_orders", depth=1).collect()}
    everything = {r.table_name for r in lab.lineage.downstream(f"{DEMO}.silver_orders", depth=10).collect()}
    if any(name.count(".") != 2 for name in got):
        return "Use full three-level names (catalog.schema.table)."
    if got == direct and direct != everything:
        return "Those are only the direct dependents: a change also breaks the tables built from them."
    missing, extra = everything - got, got - everything
    if missing:
        return f"{len(missing)} affected table(s) missing, e.g. {sorted(missing)[0]}."
    if extra:
        return f"{sorted(extra)[0]} does not depend on silver_orders."
    return None


q1 = Problem(
    "q1", "Find the source columns of gold_customer_metrics.customer_lifespan_days in system.access.column_lineage "
          "(a parameterised query) and store their names as a set in answer_1.",
    check=_lifespan_sources, var="answer_1",
    hints=["Filter on both target_table_full_name and target_column_name, with :named parameters.",
           "customer_lifespan_days is DATEDIFF(MAX(order_date), MIN(order_date))."],
    solution=('answer_1 = {r.source_column_name for r in spark.sql(\n'
              '    "SELECT DISTINCT source_column_name FROM system.access.column_lineage "\n'
              '    "WHERE target_table_full_name = :t AND target_column_name = :c",\n'
              '    args={"t": f"{DEMO}.gold_customer_metrics", "c": "customer_lifespan_days"}).collect()}'),
)

q2 = Problem(
    "q2", "Which tables would a schema change of silver_orders break, at any distance? Store their full names "
          "as a set in answer_2.",
    check=_impact, var="answer_2",
    hints=["lab.lineage.downstream(table, depth=...) walks the lineage graph.",
           "A depth of 1 gives only the direct dependents; impact analysis needs every level."],
    solution='answer_2 = {r.table_name for r in lab.lineage.downstream(f"{DEMO}.silver_orders", depth=10).collect()}',
)
