"""Where lineage lives: ``system.access.table_lineage`` and ``system.access.column_lineage``.

The column layout is Databricks' (``entity_type``, ``entity_id``, ``entity_run_id``, ``source_table_full_name``,
``source_type``, ``target_table_full_name`` …, ``created_by``, ``event_time``, ``event_date``); ``column_lineage``
adds ``source_column_name`` and ``target_column_name``. Both are Delta tables in the lab's ``system`` catalog, so
every kernel sees the same history.

>>> from lakehouse_lab.lineage import store
>>> store.columns(column_level=True)[12:14]
['source_column_name', 'target_table_full_name']
"""
from __future__ import annotations

TABLE_LINEAGE = "system.access.table_lineage"
COLUMN_LINEAGE = "system.access.column_lineage"

_ENTITY = ["account_id", "metastore_id", "workspace_id", "entity_type", "entity_id", "entity_run_id"]
_END = ["table_full_name", "table_catalog", "table_schema", "table_name", "path", "type"]
_TYPES = {"event_time": "TIMESTAMP", "event_date": "DATE"}


def columns(column_level: bool = False) -> list[str]:
    """The column names of ``table_lineage`` (or ``column_lineage`` when ``column_level``), in order."""
    names = list(_ENTITY)
    for end in ("source", "target"):
        names += [f"{end}_{n}" for n in _END]
        if column_level:
            names.append(f"{end}_column_name")
    return names + ["created_by", "event_time", "event_date"]


def ddl(column_level: bool = False) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for one of the two lineage tables."""
    from ..catalog import BOOKKEEPING_PROPERTIES

    name = COLUMN_LINEAGE if column_level else TABLE_LINEAGE
    body = ",\n  ".join(f"{c} {_TYPES.get(c, 'STRING')}" for c in columns(column_level))
    return (f"CREATE TABLE IF NOT EXISTS {name} (\n  {body}\n) USING delta "
            f"COMMENT 'Lineage captured from executed Spark plans (lakehouse_lab.lineage)' {BOOKKEEPING_PROPERTIES}")


def ensure_tables(spark) -> None:
    """Create both lineage tables when missing (idempotent; a started lab only lists ``system.access``)."""
    from ..catalog import missing_tables

    missing = missing_tables(spark, [TABLE_LINEAGE, COLUMN_LINEAGE])
    for column_level, name in ((False, TABLE_LINEAGE), (True, COLUMN_LINEAGE)):
        if name in missing:
            spark.sql(ddl(column_level))
