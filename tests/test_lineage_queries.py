"""Analysis API, the seed's queries, bad input, graphs and the CLI, over a small bronze -> silver -> gold."""
from __future__ import annotations

import json
import warnings

import pytest
from lineage_medallion import build

import lakehouse_lab as lab
from lakehouse_lab import cli

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def med(spark):
    schema = build(spark)
    lab.lineage.flush(spark)
    return schema


def test_upstream_and_downstream_direct_and_transitive(spark, med):
    gold = f"{med}.gold_customer_metrics"
    direct = {r.table_name for r in lab.lineage.upstream(gold).collect()}
    assert direct == {f"{med}.silver_orders", f"{med}.raw_customers"}
    deep = {(r.table_name, r.level) for r in lab.lineage.upstream(gold, depth=5).collect()}
    assert (f"{med}.raw_orders", 2) in deep
    down = {(r.table_name, r.level) for r in lab.lineage.downstream(f"{med}.raw_orders", depth=5).collect()}
    assert {(f"{med}.silver_orders", 1), (f"{med}.gold_revenue", 2)} <= down
    # the recursive-SQL form gives the same answer
    assert {(r.table_name, r.level) for r in lab.lineage.queries.walk_sql(gold, 5, "upstream").collect()} == deep


def test_seed_impact_query_runs_as_written_and_parameterised(spark, med):
    source_table = f"{med}.raw_orders"
    impact_query = f"""
    WITH RECURSIVE lineage_tree AS (
        SELECT target_table_full_name as table_name, 1 as level
        FROM system.access.table_lineage
        WHERE source_table_full_name = '{source_table}'
        UNION ALL
        SELECT tl.target_table_full_name, lt.level + 1
        FROM system.access.table_lineage tl
        JOIN lineage_tree lt ON tl.source_table_full_name = lt.table_name
        WHERE lt.level < 10
    )
    SELECT table_name, level, COUNT(*) as impact_count
    FROM lineage_tree
    GROUP BY table_name, level
    ORDER BY level, table_name
    """
    seed = {(r.table_name, r.level) for r in spark.sql(impact_query).collect() if r.table_name}
    ours = {(r.table_name, r.level) for r in lab.lineage.perform_impact_analysis(source_table).collect()}
    assert ours == seed and (f"{med}.gold_customer_metrics", 2) in ours


def test_analyze_table_dependencies_has_the_seed_keys(spark, med):
    result = lab.lineage.analyze_table_dependencies(f"{med}.silver_orders")
    assert set(result) == {"upstream_count", "downstream_count", "upstream_tables", "downstream_tables"}
    assert result["upstream_tables"] == [f"{med}.raw_orders"]
    assert {f"{med}.gold_customer_metrics", f"{med}.gold_revenue"} <= set(result["downstream_tables"])
    assert result["downstream_count"] == len(result["downstream_tables"])


def test_column_provenance_reaches_the_raw_column(spark, med):
    rows = {(r.table_name, r.column_name, r.level)
            for r in lab.lineage.column_provenance(f"{med}.gold_customer_metrics", "total_revenue").collect()}
    assert rows == {(f"{med}.silver_orders", "amount", 1), (f"{med}.raw_orders", "amount", 2)}


def test_unknown_table_gives_empty_result_and_near_names(spark, med):
    with pytest.warns(lab.lineage.UnknownTableWarning) as caught:
        rows = lab.lineage.upstream(f"{med}.gold_customer_metric").collect()
    assert rows == []
    message = next(str(w.message) for w in caught if issubclass(w.category, lab.lineage.UnknownTableWarning))
    assert f"{med}.gold_customer_metric" in message and f"{med}.gold_customer_metrics" in message


@pytest.mark.parametrize("name", ["x' OR '1'='1", "{m}.silver_orders' OR 'a'='a", "{m}.silver_orders; DROP TABLE x"])
def test_injection_in_names_returns_nothing(spark, med, name):
    name = name.format(m=med)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lab.lineage.UnknownTableWarning)
        assert lab.lineage.upstream(name).count() == 0
        assert lab.lineage.downstream(name).count() == 0
        assert lab.lineage.impact(name).count() == 0
        assert lab.lineage.column_lineage(name).count() == 0
    assert spark.catalog.tableExists(f"{med}.silver_orders")


def test_graphs_draw_layers_focus_and_columns(spark, med):
    svg = lab.lineage.table_graph(f"{med}.silver_orders").pipe(format="svg").decode()
    assert f"{med}.raw_orders" in svg and f"{med}.gold_revenue" in svg
    assert "#2f4f4f" in svg.lower() and "#f18f01" in svg.lower()  # silver colour, focus outline
    columns = lab.lineage.column_graph(f"{med}.gold_customer_metrics", depth=3).source
    raw = lab.lineage.graphs.node_id(f"{med}.raw_orders")
    assert "c_total_revenue" in columns and f"{raw}:c_amount" in columns  # raw_orders.amount -> ... -> revenue
    impact = lab.lineage.impact_graph(f"{med}.raw_orders").source
    assert "level 2" in impact


def test_cli_json_and_svg(spark, med, tmp_path, capsys):
    assert cli.main(["lineage", f"{med}.gold_customer_metrics", "--upstream", "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert {r["table_name"] for r in rows} >= {f"{med}.silver_orders", f"{med}.raw_orders"}
    out = tmp_path / "g.svg"
    assert cli.main(["lineage", f"{med}.gold_customer_metrics", "--upstream", "--columns", "--out", str(out)]) == 0
    assert out.read_text().startswith("<?xml") and "raw_orders" in out.read_text()
    assert cli.main(["lineage", f"{med}.nope", "--format", "json"]) == 1
    err = capsys.readouterr().err
    assert f"{med}.nope" in err and err.count("lineage: No lineage") == 1  # once, though both directions ask
