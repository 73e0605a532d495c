"""Cross-check: our column lineage (from the plan Spark executed) against ``sqlglot.lineage`` (from SQL text).

Each statement runs as ``CREATE TABLE … AS <select>`` in Spark; sqlglot reads the same SELECT with the table
schemas. Where the two differ, the test says why, and asserts the difference is exactly that.
"""
from __future__ import annotations

import pytest
from lineage_medallion import build
from sqlglot.lineage import lineage as sqlglot_lineage

import lakehouse_lab as lab

pytestmark = pytest.mark.spark

STATEMENTS = {
    "project_cast": "SELECT order_id, upper(status) AS status_u, CAST(amount AS DECIMAL(10,2)) AS amount "
                    "FROM {s}.raw_orders WHERE order_id IS NOT NULL",
    "join_aggregate": "SELECT o.customer_id, c.country, SUM(o.amount) AS total_revenue, COUNT(*) AS total_orders "
                      "FROM {s}.silver_orders o JOIN {s}.raw_customers c ON o.customer_id = c.customer_id "
                      "GROUP BY o.customer_id, c.country",
    "cte": "WITH x AS (SELECT customer_id, amount FROM {s}.silver_orders) "
           "SELECT customer_id, sum(amount) AS spent FROM x GROUP BY customer_id",
    "union": "SELECT customer_id AS id FROM {s}.raw_orders UNION ALL SELECT customer_id FROM {s}.raw_customers",
    "star": "SELECT * FROM {s}.raw_customers",
    "case": "SELECT order_id, CASE WHEN status = 'completed' THEN amount ELSE 0 END AS paid FROM {s}.raw_orders",
    "scalar_subquery": "SELECT order_id, (SELECT max(amount) FROM {s}.silver_orders) AS top FROM {s}.raw_orders",
}

# Known, explained differences: statement -> {column: (only_ours, only_sqlglot)}. None remain for these
# statements. Checked and agreed: WHERE / JOIN ON columns are not sources of a value in either (they decide
# which rows, not what a column holds); a CASE condition column is a source in both; COUNT(*) has no source
# column in both. Not comparable: MERGE (sqlglot.lineage reads SELECTs only; MERGE is covered in
# test_lineage_capture), and `SELECT *` needs the schema passed to sqlglot, while the plan always knows it.
EXPLAINED: dict[str, dict[str, tuple[set, set]]] = {}


def _schema(spark, s: str) -> dict:
    db = s.split(".")[1]
    out = {}
    for t in ("raw_orders", "raw_customers", "silver_orders"):
        out[t] = {f.name: f.dataType.simpleString() for f in spark.table(f"{s}.{t}").schema.fields}
    return {"dev_catalog": {db: out}}


def _sqlglot(sql: str, column: str, schema: dict) -> set:
    node = sqlglot_lineage(column, sql, schema=schema, dialect="spark")
    return {(leaf.source.name, leaf.name.split(".")[-1]) for leaf in node.walk()
            if not leaf.downstream and leaf.source is not None and leaf.source.key == "table"}


def _ours(spark, target: str) -> dict:
    rows = spark.sql("SELECT DISTINCT source_table_name, source_column_name, target_column_name "
                     "FROM system.access.column_lineage WHERE target_table_full_name = :t", args={"t": target})
    found: dict = {}
    for r in rows.collect():
        found.setdefault(r.target_column_name, set()).add((r.source_table_name, r.source_column_name))
    return found


@pytest.fixture(scope="module")
def results(spark):
    s = build(spark)
    for name, select in STATEMENTS.items():
        spark.sql(f"CREATE OR REPLACE TABLE {s}.x_{name} AS {select.format(s=s)}")
    lab.lineage.flush(spark)
    return s, _schema(spark, s)


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_column_lineage_matches_sqlglot(spark, results, name):
    s, schema = results
    sql = STATEMENTS[name].format(s=s)
    ours = _ours(spark, f"{s}.x_{name}")
    columns = [f.name for f in spark.table(f"{s}.x_{name}").schema.fields]
    for column in columns:
        theirs = _sqlglot(sql, column, schema)
        mine = ours.get(column, set())
        only_ours, only_theirs = EXPLAINED.get(name, {}).get(column, (set(), set()))
        assert (mine - theirs, theirs - mine) == (only_ours, only_theirs), (name, column, mine, theirs)
