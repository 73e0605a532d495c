"""Lineage analysis over ``system.access``: upstream, downstream, column provenance, impact.

Every query is parameterised (``spark.sql(q, args={...})``): a table name is a value, never SQL text, so a name
like ``x' OR '1'='1`` matches nothing. Each call stores pending captured lineage first (:func:`capture.flush`).
Sources that are paths (files landed outside any table) appear under their path.

>>> import lakehouse_lab as lab
>>> lab.lineage.upstream("dev_catalog.analytics.gold_customer_metrics", depth=5).show()   # doctest: +SKIP
>>> lab.lineage.analyze_table_dependencies("dev_catalog.analytics.silver_orders")        # doctest: +SKIP
{'upstream_count': 1, 'downstream_count': 3, 'upstream_tables': [...], 'downstream_tables': [...]}
"""
from __future__ import annotations

import difflib
import re
import warnings

from ..frames import rows_frame
from . import capture
from .store import COLUMN_LINEAGE, TABLE_LINEAGE

_NAME = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+){0,2}$")

# Edges between tables (or paths); reads with no target are left out.
_EDGES = f"""SELECT DISTINCT coalesce(source_table_full_name, source_path) AS source,
                target_table_full_name AS target
         FROM {TABLE_LINEAGE} WHERE target_table_full_name IS NOT NULL"""

_WALK = """WITH RECURSIVE edges AS ({edges}),
lineage_tree AS (
    SELECT {far} AS table_name, 1 AS level FROM edges WHERE {near} = :table
    UNION ALL
    SELECT e.{far}, lt.level + 1 FROM edges e JOIN lineage_tree lt ON e.{near} = lt.table_name
    WHERE lt.level < :depth
)
SELECT table_name, min(level) AS level FROM lineage_tree GROUP BY table_name ORDER BY level, table_name"""

# The seed's query over *distinct* edges: the lineage table holds one row per run, and the seed's form over raw
# rows multiplies paths by the number of runs at every level (10k rows hit Spark's 1M recursion-row limit).
_IMPACT = f"""WITH RECURSIVE edges AS (
    SELECT DISTINCT source_table_full_name, target_table_full_name FROM {TABLE_LINEAGE}
    WHERE target_table_full_name IS NOT NULL
),
lineage_tree AS (
    SELECT target_table_full_name AS table_name, 1 AS level
    FROM edges
    WHERE source_table_full_name = :source_table
    UNION ALL
    SELECT tl.target_table_full_name, lt.level + 1
    FROM edges tl
    JOIN lineage_tree lt ON tl.source_table_full_name = lt.table_name
    WHERE lt.level < :max_level
)
SELECT table_name, level, COUNT(*) AS impact_count
FROM lineage_tree
GROUP BY table_name, level
ORDER BY level, table_name"""

_COLUMN_EDGES = f"""SELECT DISTINCT coalesce(source_table_full_name, source_path) AS source_table,
    source_column_name AS source_column, target_table_full_name AS target_table, target_column_name AS target_column
    FROM {COLUMN_LINEAGE}"""

_PROVENANCE = f"""WITH RECURSIVE edges AS ({_COLUMN_EDGES}),
provenance AS (
    SELECT source_table AS table_name, source_column AS column_name, 1 AS level FROM edges
    WHERE target_table = :table AND target_column = :column
    UNION ALL
    SELECT e.source_table, e.source_column, p.level + 1 FROM edges e
    JOIN provenance p ON e.target_table = p.table_name AND e.target_column = p.column_name
    WHERE p.level < :depth
)
SELECT table_name, column_name, min(level) AS level FROM provenance
GROUP BY table_name, column_name ORDER BY level, table_name, column_name"""


class UnknownTableWarning(UserWarning):
    """A lineage query named a table that has no lineage (the message names it and near names)."""


def _spark(spark):
    """The given session, else the lab's running one (without touching its current catalog), else a new one."""
    if spark is not None:
        return spark
    running = capture._state["spark"]
    if capture._alive(running):
        return running
    import lakehouse_lab as lab

    return lab.start()


def normalize(name: str) -> str:
    """A user's table name as stored: three levels, lower case, no backticks (``orders`` → current catalog)."""
    clean = name.strip().replace("`", "")
    if _NAME.match(clean):
        from .. import catalog

        return catalog.table(clean).lower()
    return clean


def known_names(spark) -> list[str]:
    """Every table or path that appears in the lineage tables."""
    rows = spark.sql(f"""SELECT DISTINCT coalesce(source_table_full_name, source_path) AS n FROM {TABLE_LINEAGE}
                         UNION SELECT DISTINCT target_table_full_name FROM {TABLE_LINEAGE}""").collect()
    return sorted(r.n for r in rows if r.n)


def check_table(name: str, spark=None) -> str | None:
    """None when ``name`` has lineage; otherwise a message naming it and suggesting near names."""
    spark = _spark(spark)
    hits = spark.sql(f"""SELECT 1 FROM {TABLE_LINEAGE} WHERE source_table_full_name = :t
                         OR target_table_full_name = :t OR source_path = :t LIMIT 1""", args={"t": name}).count()
    if hits:
        return None
    near = difflib.get_close_matches(name, known_names(spark), n=3, cutoff=0.6)
    where = ""
    if _NAME.match(name) and name.count(".") == 2:
        from .. import catalog

        try:
            exists = spark.catalog.tableExists(name)
        except Exception:  # noqa: BLE001 - an unknown catalog or schema
            exists = False
        where = " It exists but no recorded query read or wrote it yet." if exists else \
            " " + catalog.explain_missing(spark, name)
    hint = f" Near names with lineage: {', '.join(near)}." if near else ""
    return f"No lineage recorded for {name!r}.{where}{hint}"


def _checked(name: str, spark) -> str:
    capture.flush(spark)
    full = normalize(name)
    message = check_table(full, spark)
    if message:
        warnings.warn(message, UnknownTableWarning, stacklevel=3)
    return full


def _walk(table: str, depth: int, far: str, near: str, spark):
    """Breadth-first over the distinct edges (one scan of the lineage table, then in memory).

    Same answer as :func:`walk_sql` (the recursive CTE), which re-scans the table once per level.
    """
    spark = _spark(spark)
    full = _checked(table, spark)
    pairs = [(getattr(r, near), getattr(r, far)) for r in spark.sql(_EDGES).collect()]
    nexts: dict[str, set[str]] = {}
    for a, b in pairs:
        nexts.setdefault(a, set()).add(b)
    levels, frontier = {}, {full}
    for level in range(1, int(depth) + 1):
        frontier = {n for f in frontier for n in nexts.get(f, ())} - levels.keys() - {full}
        levels.update((n, level) for n in frontier)
    rows = sorted(levels.items(), key=lambda kv: (kv[1], kv[0]))
    return rows_frame(spark, rows, "table_name STRING, level INT")


def walk_sql(table: str, depth: int = 10, direction: str = "upstream", spark=None):
    """Upstream or downstream with one recursive SQL query (``WITH RECURSIVE``), parameterised."""
    spark = _spark(spark)
    full = _checked(table, spark)
    far, near = ("source", "target") if direction == "upstream" else ("target", "source")
    query = _WALK.format(edges=_EDGES, far=far, near=near)
    return spark.sql(query, args={"table": full, "depth": int(depth)})


def upstream(table: str, depth: int = 1, spark=None):
    """Tables (and paths) ``table`` is built from: ``table_name, level`` (1 = direct), up to ``depth`` hops."""
    return _walk(table, depth, "source", "target", spark)


def downstream(table: str, depth: int = 1, spark=None):
    """Tables built from ``table``: ``table_name, level`` (1 = direct), up to ``depth`` hops."""
    return _walk(table, depth, "target", "source", spark)


def impact(table: str, max_level: int = 10, spark=None):
    """The seed's recursive impact analysis, parameterised: ``table_name, level, impact_count``."""
    spark = _spark(spark)
    full = _checked(table, spark)
    return spark.sql(_IMPACT, args={"source_table": full, "max_level": int(max_level)})


perform_impact_analysis = impact


def column_lineage(table: str, column: str | None = None, spark=None):
    """Direct column lineage into ``table`` (one ``column`` or all): source table/column → target column."""
    spark = _spark(spark)
    full = _checked(table, spark)
    query = (f"SELECT * FROM ({_COLUMN_EDGES}) WHERE target_table = :table "
             "AND (:column IS NULL OR target_column = :column) ORDER BY target_column, source_table, source_column")
    return spark.sql(query, args={"table": full, "column": column})


def column_provenance(table: str, column: str, depth: int = 10, spark=None):
    """Where one column comes from, transitively: ``table_name, column_name, level``."""
    spark = _spark(spark)
    full = _checked(table, spark)
    return spark.sql(_PROVENANCE, args={"table": full, "column": column, "depth": int(depth)})


def analyze_table_dependencies(table_name: str, spark=None) -> dict:
    """The seed's dependency summary (same keys), with distinct tables and parameterised SQL.

    >>> lab.lineage.analyze_table_dependencies("dev_catalog.analytics.silver_orders")    # doctest: +SKIP
    {'upstream_count': 1, 'downstream_count': 2, 'upstream_tables': [...], 'downstream_tables': [...]}
    """
    up = [r.table_name for r in upstream(table_name, 1, spark).collect()]
    down = [r.table_name for r in downstream(table_name, 1, spark).collect()]
    return {"upstream_count": len(up), "downstream_count": len(down),
            "upstream_tables": up, "downstream_tables": down}


def edges(spark=None, entity_type: str | None = None):
    """All distinct table-level edges ``source, target, entity_type, entity_id, entity_run_id``."""
    spark = _spark(spark)
    capture.flush(spark)
    query = f"""SELECT DISTINCT coalesce(source_table_full_name, source_path) AS source,
                target_table_full_name AS target, entity_type, entity_id, entity_run_id
                FROM {TABLE_LINEAGE} WHERE target_table_full_name IS NOT NULL
                AND (:entity_type IS NULL OR entity_type = :entity_type)"""
    return spark.sql(query, args={"entity_type": entity_type})
