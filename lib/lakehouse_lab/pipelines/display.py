"""How a pipeline shows itself: the dataflow graph as SVG (graphviz) and an update summary table.

Nodes are coloured by layer (bronze brown, silver slate, gold olive — as in the course diagrams), outlined
by the last status (green completed, red failed, grey skipped, light grey excluded, blue validated); edges carry
the rows written and dropped.

>>> from lakehouse_lab.pipelines.graph import Pipeline
>>> from lakehouse_lab.pipelines.display import pipeline_graph
>>> p = Pipeline.from_sql("demo", "CREATE OR REFRESH LIVE TABLE gold_x AS SELECT 1 AS a")
>>> "gold_x" in pipeline_graph(p, [], {}).source
True
"""
from __future__ import annotations

import html

LAYER_COLOURS = {"bronze": "#8B4513", "silver": "#2F4F4F", "gold": "#556B2F", "other": "#4A6FA5"}
STATUS_COLOURS = {"COMPLETED": "#2E7D32", "FAILED": "#D32F2F", "SKIPPED": "#9E9E9E", "QUEUED": "#FFFFFF",
                  "EXCLUDED": "#E0E0E0", "VALIDATED": "#1565C0"}
SHAPES = {"streaming_table": "box", "materialized_view": "box3d", "view": "ellipse", "table": "box"}


def pipeline_graph(pipeline, edges, results: dict):
    """A ``graphviz.Digraph`` of the pipeline (sources outside it in grey)."""
    import graphviz

    g = graphviz.Digraph(pipeline.name, graph_attr={"rankdir": "LR", "fontname": "Helvetica", "label": pipeline.name,
                                                     "labelloc": "t"},
                         node_attr={"fontname": "Helvetica", "fontsize": "11", "style": "filled,rounded"},
                         edge_attr={"fontname": "Helvetica", "fontsize": "9"})
    for name, ds in pipeline.datasets.items():
        result = results.get(name)
        status = result.status if result else "QUEUED"
        kind = (result.kind if result else None) or ds.kind or "table"
        g.node(name, f"{name}\n{kind.replace('_', ' ')}", shape=SHAPES.get(kind, "box"),
               fillcolor=LAYER_COLOURS[ds.layer], fontcolor="white", color=STATUS_COLOURS.get(status, "#FFFFFF"),
               penwidth="3", tooltip=f"{status} — {ds.where}")
    for src, dst, streaming in edges:
        if src not in pipeline.datasets:
            g.node(src, src, shape="cylinder", fillcolor="#E0E0E0", fontcolor="black", style="filled")
        g.edge(src, dst, label=_edge_label(results.get(dst)), style="dashed" if streaming else "solid")
    return g


def _edge_label(result) -> str:
    if result is None or result.status != "COMPLETED" or result.kind == "view":
        return ""
    label = f"{result.rows_written:,} rows"
    if result.rows_dropped:
        label += f"\n{result.rows_dropped:,} dropped"
    return label


def svg(graph) -> str:
    """The graph rendered as an inline SVG string."""
    return graph.pipe(format="svg").decode("utf-8")


def update_html(update) -> str:
    """HTML for a notebook: state, ids, the per-dataset summary table and the graph."""
    colour = STATUS_COLOURS.get(update.state, "#000")
    rows = "".join(
        f"<tr><td>{html.escape(r['dataset'])}</td><td>{r['kind']}</td>"
        f"<td style='color:{STATUS_COLOURS.get(r['status'], '#000')}'>{r['status']}</td><td>{r['refresh'] or ''}</td>"
        f"<td style='text-align:right'>{r['rows_written']:,}</td><td style='text-align:right'>{r['rows_dropped']:,}</td>"
        f"<td>{html.escape(', '.join(f'{k}: {v:,}' for k, v in r['failed_expectations'].items()))}</td>"
        f"<td style='text-align:right'>{r['seconds']}</td></tr>" for r in update.summary())
    error = f"<pre style='color:#D32F2F;white-space:pre-wrap'>{html.escape(update.error)}</pre>" if update.error else ""
    try:
        picture = svg(update.graph())
    except Exception as exc:  # noqa: BLE001 - no `dot` binary: show the table anyway
        picture = f"<p><i>graph unavailable: {html.escape(str(exc))}</i></p>"
    return (f"<div><b>Pipeline {html.escape(update.pipeline_name)}</b> — update <code>{update.update_id}</code> "
            f"<b style='color:{colour}'>{update.state}</b> in {update.duration_s:.1f}s "
            f"(environment {update.environment}{', full refresh' if update.full_refresh else ''})"
            f"<table><tr><th>dataset</th><th>kind</th><th>status</th><th>refresh</th><th>rows written</th><th>dropped</th>"
            f"<th>failed expectations</th><th>s</th></tr>{rows}</table>{error}{picture}</div>")
