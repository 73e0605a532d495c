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
    name = COLUMN_LINEAGE if column_level else TABLE_LINEAGE
    body = ",\n  ".join(f"{c} {_TYPES.get(c, 'STRING')}" for c in columns(column_level))
    return (f"CREATE TABLE IF NOT EXISTS {name} (\n  {body}\n) USING delta "
            "COMMENT 'Lineage captured from executed Spark plans (lakehouse_lab.lineage)'")


def ensure_tables(spark) -> None:
    """Create both lineage tables when missing (idempotent).

    Listing the schema's names is all a started lab pays: unlike ``tableExists`` it does not open the
    tables' Delta logs."""
    schema = TABLE_LINEAGE.rsplit(".", 1)[0]
    existing = {row.tableName for row in spark.sql(f"SHOW TABLES IN {schema}").collect()}
    for column_level in (False, True):
        if (COLUMN_LINEAGE if column_level else TABLE_LINEAGE).rsplit(".", 1)[1] not in existing:
            spark.sql(ddl(column_level))
