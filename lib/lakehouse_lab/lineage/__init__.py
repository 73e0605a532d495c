"""Unity Catalog-style lineage, captured from the plans Spark executed (seed §1).

Capture starts with the session (``lab.start()``); lineage lands in ``system.access.table_lineage`` and
``system.access.column_lineage`` with Databricks' columns. Query it with SQL, or with the helpers here.

>>> import lakehouse_lab as lab
>>> spark = lab.start()                                                                  # doctest: +SKIP
>>> lab.lineage.upstream("dev_catalog.analytics.gold_customer_metrics", depth=5).show()  # doctest: +SKIP
>>> lab.lineage.table_graph("dev_catalog.analytics.silver_orders")                       # doctest: +SKIP
"""
from .capture import flush, install, paused, pending, record_stream
from .graphs import column_graph, impact_graph, job_graph, table_graph, upstream_graph
from .queries import (UnknownTableWarning, analyze_table_dependencies, column_lineage, column_provenance,
                      downstream, impact, perform_impact_analysis, upstream)
from .store import COLUMN_LINEAGE, TABLE_LINEAGE

__all__ = ["install", "flush", "pending", "paused", "record_stream", "upstream", "downstream", "impact",
           "perform_impact_analysis", "column_lineage", "column_provenance", "analyze_table_dependencies",
           "table_graph", "upstream_graph", "column_graph", "impact_graph", "job_graph", "UnknownTableWarning",
           "TABLE_LINEAGE", "COLUMN_LINEAGE"]
