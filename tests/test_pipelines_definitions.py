"""Pipeline definitions without Spark: SQL headers and constraints, errors with file and line, Python
decorators, and portability of the Python definitions to ``pyspark.pipelines``."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from lakehouse_lab.expectations import Expectation
from lakehouse_lab.pipelines import python_api, sql_parser
from lakehouse_lab.pipelines.graph import Pipeline
from lakehouse_lab.pipelines.model import PipelineDefinitionError

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "notebooks" / "pipelines"


def test_seed_blocks_parse_to_the_three_datasets():
    items = [d for f in sorted((COURSE / "orders").glob("*.sql")) for d in sql_parser.parse_sql(f.read_text(), str(f))]
    assert [(d.name, d.kind) for d in items] == [("bronze_orders", "streaming_table"),
                                                 ("silver_orders", "materialized_view"),
                                                 ("gold_customer_metrics", "materialized_view")]
    silver = items[1]
    assert silver.expectations == [Expectation("valid_order_id", "order_id IS NOT NULL", "drop"),
                                   Expectation("positive_amount", "amount > 0", "fail"),
                                   Expectation("valid_date", "order_date <= current_date()", "drop")]
    assert silver.comment == "Cleaned and validated order data"
    assert silver.sql.startswith("SELECT") and "FROM LIVE.bronze_orders" in silver.sql


@pytest.mark.parametrize("header, kind", [
    ("CREATE OR REFRESH STREAMING TABLE t", "streaming_table"),
    ("CREATE OR REFRESH STREAMING LIVE TABLE t", "streaming_table"),
    ("CREATE OR REFRESH MATERIALIZED VIEW t", "materialized_view"),
    ("CREATE OR REFRESH LIVE TABLE t", "materialized_view"),
    ("CREATE LIVE VIEW t", "view"),
    ("CREATE TEMPORARY VIEW t", "view"),
    ("CREATE TEMPORARY LIVE VIEW t", "view"),
])
def test_every_accepted_form(header, kind):
    (ds,) = sql_parser.parse_sql(f"{header} TBLPROPERTIES ('pipelines.quarantine' = 'true') AS SELECT 1 AS a")
    assert (ds.name, ds.kind, ds.quarantine, ds.sql) == ("t", kind, True, "SELECT 1 AS a")


def test_statements_split_on_semicolons_outside_strings_and_comments():
    text = "-- a; comment\nCREATE LIVE VIEW a AS SELECT ';' AS s;\n\n/* ; */ CREATE LIVE VIEW b AS SELECT 2"
    parts = sql_parser.split_statements(text)
    assert [line for line, _ in parts] == [2, 4]
    assert parts[0][1].endswith("SELECT ';' AS s")


def test_bad_constraint_names_file_line_and_text():
    text = "CREATE OR REFRESH LIVE TABLE t (\n  CONSTRAINT ok EXPECT (a > 0),\n  CONSTRAINT bad EXPECT (a > 0) ON VIOLATION DELETE\n) AS SELECT 1 AS a"
    with pytest.raises(PipelineDefinitionError) as err:
        sql_parser.parse_sql(text, "silver.sql")
    assert str(err.value).startswith("silver.sql:3:") and "CONSTRAINT bad" in str(err.value)


def test_unknown_statement_is_rejected_with_the_accepted_forms():
    with pytest.raises(PipelineDefinitionError, match=r"x.sql:2: not a pipeline definition.*LIVE TABLE"):
        sql_parser.parse_sql("\nCREATE OR REFRESH LIVE TABLES t AS SELECT 1", "x.sql")


def test_live_references_are_rewritten_outside_string_literals():
    sql = "SELECT 'LIVE.x' AS s FROM LIVE.a JOIN STREAM(live.`b`) ON a.LIVE = 1"
    assert sql_parser.rewrite_live(sql, lambda n: f"<{n}>") == "SELECT 'LIVE.x' AS s FROM <a> JOIN STREAM(<b>) ON a.LIVE = 1"


def test_flow_into_streaming_table_and_conflicting_definitions():
    p = Pipeline.from_sql("p", "CREATE OR REFRESH STREAMING TABLE s;\n"
                               "CREATE FLOW f AS INSERT INTO s BY NAME SELECT * FROM STREAM(x)")
    assert [f.name for f in p.datasets["s"].flows] == ["f"]
    with pytest.raises(PipelineDefinitionError, match="defined twice"):
        Pipeline.from_sql("p", "CREATE LIVE VIEW a AS SELECT 1; CREATE OR REFRESH LIVE TABLE a AS SELECT 2")
    with pytest.raises(PipelineDefinitionError, match="only streaming tables"):
        Pipeline.from_sql("p", "CREATE OR REFRESH LIVE TABLE m AS SELECT 1;"
                               "CREATE FLOW f AS INSERT INTO m BY NAME SELECT * FROM STREAM(x)")


def test_python_decorators_register_datasets_expectations_and_reads():
    with python_api.collecting() as reg:
        from lakehouse_lab import dp

        @dp.table(comment="c")
        @dp.expect_all_or_drop({"a": "x > 0", "b": "y IS NOT NULL"})
        def silver():
            return dp.read_stream("bronze").union(spark.read.table("other.t"))  # noqa: F821

        @dp.expect("late", "z = 1")  # above the dataset decorator: still attached
        @dp.temporary_view
        def v():
            return dp.read("silver")

    silver_ds, view_ds = reg.datasets
    assert (silver_ds.kind, silver_ds.comment) == (None, "c")
    assert [(e.name, e.action) for e in silver_ds.expectations] == [("a", "drop"), ("b", "drop")]
    assert sorted(silver_ds.flows[0].reads) == [("bronze", True), ("other.t", False)]
    assert (view_ds.kind, [e.name for e in view_ds.expectations]) == ("view", ["late"])


def test_python_definitions_use_only_pyspark_pipelines_names():
    """The course's Python pipeline, without expectations, uses only names and arguments of pyspark.pipelines."""
    import pyspark.pipelines as sdp

    tree = ast.parse((COURSE / "orders_python" / "orders.py").read_text())
    used = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and ast.unparse(node.func.value) == "dp":
            used.setdefault(node.func.attr, set()).update(k.arg for k in node.keywords)
        elif isinstance(node, ast.Attribute) and ast.unparse(node.value) == "dp":
            used.setdefault(node.attr, set())
    portable = {name: kw for name, kw in used.items() if not name.startswith("expect")}
    assert {"table", "materialized_view"} <= set(portable)
    for name, keywords in portable.items():
        assert hasattr(sdp, name), f"dp.{name} does not exist in pyspark.pipelines"
        assert keywords <= set(inspect.signature(getattr(sdp, name)).parameters), (name, keywords)


def test_dp_and_dlt_expose_the_pyspark_pipelines_names():
    import pyspark.pipelines as sdp

    import dlt
    from lakehouse_lab import dp

    for name in ("table", "materialized_view", "temporary_view", "append_flow", "create_streaming_table"):
        assert hasattr(sdp, name) and callable(getattr(dp, name))
        ours = set(inspect.signature(getattr(dp, name)).parameters)
        assert set(inspect.signature(getattr(sdp, name)).parameters) <= ours, name
    for name in ("table", "view", "read", "read_stream", "expect", "expect_or_drop", "expect_or_fail",
                 "expect_all", "expect_all_or_drop", "expect_all_or_fail"):
        assert callable(getattr(dlt, name))


def test_dataset_names_must_be_plain_identifiers():
    with pytest.raises(PipelineDefinitionError, match=r"<sql>:1: dataset name 'other.t' must be a plain identifier"):
        Pipeline.from_sql("p", "CREATE OR REFRESH LIVE TABLE other.t AS SELECT 1")
