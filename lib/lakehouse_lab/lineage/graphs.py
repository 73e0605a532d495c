"""Lineage drawn with graphviz: tables, columns, impact, jobs. Each function returns a ``graphviz.Digraph``
(it renders itself inline as SVG in a notebook; ``.pipe(format="svg")`` or ``.source`` for files).

>>> import lakehouse_lab as lab
>>> lab.lineage.table_graph("dev_catalog.analytics.silver_orders")        # doctest: +SKIP
"""
from __future__ import annotations

import hashlib

import graphviz

from . import queries

LAYERS = {"bronze": "#8B4513", "silver": "#2F4F4F", "gold": "#556B2F"}
OTHER, PATH, FOCUS = "#2E86AB", "#7f7f7f", "#F18F01"
DEPTH_COLOURS = ["#C73E1D", "#F18F01", "#F4C95D", "#A7C957", "#6A994E", "#386641"]


def layer(name: str) -> str | None:
    """``bronze`` / ``silver`` / ``gold`` from a table name or its schema, else None."""
    if "/" in name:
        return None
    parts = name.split(".")
    for candidate in (parts[-1], *parts[:-1]):
        for key in LAYERS:
            if candidate.startswith(key) or candidate == key:
                return key
    return None


def _colour(name: str) -> str:
    if "/" in name:
        return PATH
    return LAYERS.get(layer(name) or "", OTHER)


def _graph(title: str) -> graphviz.Digraph:
    g = graphviz.Digraph(name="lineage", graph_attr={"rankdir": "LR", "label": title, "labelloc": "t",
                                                   "fontname": "Helvetica"})
    g.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontcolor="white")
    g.attr("edge", color="#555555")
    return g


def node_id(name: str) -> str:
    """A graphviz-safe node id for a table name or path (paths hold ':' which graphviz reads as a port)."""
    return "n" + hashlib.sha1(name.encode()).hexdigest()[:12]


def _node(g: graphviz.Digraph, name: str, focus: bool = False, fill: str | None = None, label: str | None = None,
          **extra) -> None:
    attrs = {"fillcolor": fill or _colour(name), **extra}
    if focus:
        attrs.update(penwidth="4", color=FOCUS, fontname="Helvetica-Bold")
    g.node(node_id(name), label=label or name, tooltip=name, **attrs)


def _edge(g: graphviz.Digraph, source: str, target: str, **attrs) -> None:
    g.edge(node_id(source), node_id(target), **attrs)


def _related(table: str, depth: int, spark) -> set[str]:
    names = {table}
    names |= {r.table_name for r in queries.upstream(table, depth, spark).collect()}
    names |= {r.table_name for r in queries.downstream(table, depth, spark).collect()}
    return names


def table_graph(table: str, depth: int = 10, spark=None) -> graphviz.Digraph:
    """Everything upstream and downstream of ``table`` (layers coloured, ``table`` highlighted)."""
    spark = queries._spark(spark)
    full = queries.normalize(table)
    names = _related(full, depth, spark)
    g = _graph(f"Table lineage of {full}")
    for name in sorted(names):
        _node(g, name, focus=name == full)
    for e in queries.edges(spark).select("source", "target").distinct().collect():
        if e.source in names and e.target in names:
            _edge(g, e.source, e.target)
    return g


def upstream_graph(table: str, depth: int = 10, spark=None) -> graphviz.Digraph:
    """Only the sources of ``table``, transitively."""
    spark = queries._spark(spark)
    full = queries.normalize(table)
    names = {full} | {r.table_name for r in queries.upstream(full, depth, spark).collect()}
    g = _graph(f"Upstream of {full}")
    for name in sorted(names):
        _node(g, name, focus=name == full)
    for e in queries.edges(spark).select("source", "target").distinct().collect():
        if e.source in names and e.target in names:
            _edge(g, e.source, e.target)
    return g


def _html_table(name: str, columns: list[str], focus: bool) -> str:
    head = f'<TR><TD BGCOLOR="{_colour(name)}"><FONT COLOR="white"><B>{_esc(name)}</B></FONT></TD></TR>'
    rows = "".join(f'<TR><TD PORT="{_port(c)}" ALIGN="LEFT">{_esc(c)}</TD></TR>' for c in columns)
    border = f' COLOR="{FOCUS}" BORDER="3"' if focus else ' BORDER="1"'
    return f'<<TABLE CELLBORDER="0" CELLSPACING="0" CELLPADDING="4"{border}>{head}{rows}</TABLE>>'


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _port(column: str) -> str:
    return "c_" + "".join(ch if ch.isalnum() else "_" for ch in column)


def column_graph(table: str, depth: int = 1, spark=None) -> graphviz.Digraph:
    """Columns of ``table`` and their sources as records, one edge per column → column derivation.

    ``depth`` > 1 follows the sources' own column lineage further upstream.
    """
    spark = queries._spark(spark)
    full = queries.normalize(table)
    frontier, seen, edges = {full}, set(), []
    for _ in range(max(1, depth)):
        nxt = set()
        for target in sorted(frontier - seen):
            seen.add(target)
            rows = queries.column_lineage(target, spark=spark).collect() if target == full else \
                _quiet_columns(target, spark)
            edges += rows
            nxt |= {r.source_table for r in rows}
        frontier = nxt
    tables: dict[str, list[str]] = {}
    for e in edges:
        tables.setdefault(e.source_table, [])
        tables.setdefault(e.target_table, [])
        for t, c in ((e.source_table, e.source_column), (e.target_table, e.target_column)):
            if c not in tables[t]:
                tables[t].append(c)
    g = graphviz.Digraph(name="columns", graph_attr={"rankdir": "LR", "label": f"Column lineage of {full}",
                                                     "labelloc": "t", "fontname": "Helvetica"})
    g.attr("node", shape="plaintext", fontname="Helvetica")
    for name, cols in sorted(tables.items()):
        g.node(node_id(name), label=_html_table(name, cols, name == full), tooltip=name)
    for e in edges:
        g.edge(f"{node_id(e.source_table)}:{_port(e.source_column)}",
               f"{node_id(e.target_table)}:{_port(e.target_column)}")
    return g


def _quiet_columns(table: str, spark):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", queries.UnknownTableWarning)
        return queries.column_lineage(table, spark=spark).collect()


def impact_graph(table: str, max_level: int = 10, spark=None) -> graphviz.Digraph:
    """Everything downstream of a changed ``table``, coloured by distance (1 = directly affected)."""
    spark = queries._spark(spark)
    full = queries.normalize(table)
    levels = {}
    for r in queries.impact(full, max_level, spark).collect():
        levels[r.table_name] = min(levels.get(r.table_name, r.level), r.level)
    g = _graph(f"Impact of changing {full}")
    _node(g, full, focus=True, fill="#333333")
    for name, level in sorted(levels.items()):
        _node(g, name, label=f"{name}\nlevel {level}",
              fill=DEPTH_COLOURS[min(level, len(DEPTH_COLOURS)) - 1], fontcolor="black")
    names = {full, *levels}
    for e in queries.edges(spark).select("source", "target").distinct().collect():
        if e.source in names and e.target in names:
            _edge(g, e.source, e.target)
    return g


def job_graph(job_id: str | None = None, spark=None) -> graphviz.Digraph:
    """Job lineage: job → task runs → tables written, from lineage rows with ``entity_type = 'JOB'``.

    A job is ``entity_id``; each ``entity_run_id`` the job wrote with is drawn as a run (named by its task key
    when ``system.lakeflow.job_task_run_timeline`` knows it).
    """
    spark = queries._spark(spark)
    rows = [r for r in queries.edges(spark, "JOB").collect() if job_id is None or r.entity_id == str(job_id)]
    tasks = _task_names(spark)
    g = _graph(f"Job lineage{' of job ' + str(job_id) if job_id else ''}")
    for r in rows:
        job = f"job {r.entity_id}"
        run = f"{job} / {tasks.get(str(r.entity_run_id), 'run ' + str(r.entity_run_id))}"
        _node(g, job, fill="#C73E1D", shape="folder")
        _node(g, run, fill="#A23B72", label=run.split(" / ", 1)[1], shape="component")
        _node(g, r.target)
        _edge(g, job, run)
        _edge(g, run, r.target, label="writes")
        if r.source:
            _node(g, r.source)
            _edge(g, r.source, r.target, style="dashed", color="#999999")
    return g


def _task_names(spark) -> dict[str, str]:
    """run id → task key from the job history table, when that table exists."""
    try:
        rows = spark.sql("SELECT DISTINCT CAST(run_id AS STRING) AS run_id, task_key "
                         "FROM system.lakeflow.job_task_run_timeline").collect()
    except Exception:  # noqa: BLE001 - no job history yet: runs are shown by id
        return {}
    return {r.run_id: r.task_key for r in rows}
