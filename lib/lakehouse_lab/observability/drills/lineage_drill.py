"""Lineage drill: a table refreshed by writing to its storage path has no lineage of its own.

Lineage is captured from the plans Spark executes, and a write is attributed to a table only when the plan
names it. ``df.write.format("delta").save(path)`` names a path: ``system.access.table_lineage`` records the
write against the path (``target_path``), as Databricks does, and the table registered on that path
(``CREATE TABLE … LOCATION``) shows no upstream. Writing through the table name (``writeTo``, ``saveAsTable``,
``INSERT INTO``) is the fix.

>>> MissingLineage.issue_type
'Lineage Missing'
"""
from __future__ import annotations

from .base import Drill, Verdict

UPSTREAM = """SELECT DISTINCT source_table_full_name, target_table_full_name, entity_type
FROM system.access.table_lineage WHERE target_table_full_name = :table AND event_time >= :since"""
BY_PATH = """SELECT count(*) AS n FROM system.access.table_lineage WHERE target_path = :path AND event_time >= :since"""


class MissingLineage(Drill):
    """``daily_totals`` is refreshed by path from ``orders``; after the fix, through its name."""

    name = "missing_lineage"
    title = "Missing lineage: a table written by path"
    issue_type = "Lineage Missing"
    lesson = ("Lineage follows names in executed plans; a write to a storage path is recorded for the path, "
              "not the table.")

    def __init__(self, schema: str = "drills"):
        super().__init__(schema)
        self.by_name = False
        self.since = None

    def _totals(self):
        return self.spark.table(self.table("orders")).groupBy("order_date").agg({"amount": "sum"}) \
            .withColumnRenamed("sum(amount)", "total_amount")

    def refresh(self) -> str:
        """The daily refresh of ``daily_totals``: by path until :meth:`fix`, then through the table name."""
        from pyspark.sql import functions as F

        if self.by_name:
            self._totals().writeTo(self.table("daily_totals")).overwrite(F.lit(True))
            return "writeTo(table).overwrite"
        self._totals().write.format("delta").mode("overwrite").save(str(self.folder("daily_totals")))
        return "write.format('delta').save(path)"

    def _inject(self):
        import shutil

        # lineage is history: an earlier run of this drill left rows for the same table name; look after now
        self.since = self.spark.sql("SELECT current_timestamp() AS now").first().now
        self.sql("DROP TABLE IF EXISTS IDENTIFIER(:t)", t=self.table("daily_totals"))
        shutil.rmtree(self.folder("daily_totals"), ignore_errors=True)
        self.sql("CREATE OR REPLACE TABLE IDENTIFIER(:t) AS SELECT concat('O', id) AS order_id, "
                 "date_add(DATE'2024-03-01', CAST(id % 7 AS INT)) AS order_date, CAST(5 + id % 40 AS DOUBLE) AS amount "
                 "FROM range(300)", t=self.table("orders"))
        how = self.refresh()
        # registered on the files written above: an external table, as teams do for data written by path
        self.spark.catalog.createTable(self.table("daily_totals"), path=str(self.folder("daily_totals")),
                                       source="delta")
        self.refresh()
        return {"table": self.table("daily_totals"), "written_by": how, "path": str(self.folder("daily_totals"))}

    def upstream(self):
        """Lineage rows recorded since :meth:`inject` whose target is ``daily_totals`` (a DataFrame; stores
        pending lineage first)."""
        from ... import lineage

        lineage.flush(self.spark)
        return self.sql(UPSTREAM, table=self.table("daily_totals"), since=self.since)

    def _detect(self):
        return self.upstream()

    def _diagnose(self) -> dict:
        from delta.tables import DeltaTable

        table = self.table("daily_totals")
        extended = {r.col_name: r.data_type for r in
                    self.sql("DESCRIBE TABLE EXTENDED IDENTIFIER(:t)", t=table).collect()}
        history = DeltaTable.forName(self.spark, table).history().orderBy("version").collect()
        writes = [h for h in history if h.operation in ("WRITE", "CREATE OR REPLACE TABLE AS SELECT",
                                                       "REPLACE TABLE AS SELECT", "MERGE", "DELETE", "UPDATE")]
        return {"table": table, "registered": bool(extended), "type": extended.get("Type"),
                "location": extended.get("Location"), "writes_in_history": len(writes),
                "last_write": {"version": writes[-1].version, "operation": writes[-1].operation,
                               "parameters": dict(writes[-1].operationParameters or {})} if writes else None,
                "lineage_rows": self.upstream().count(),
                "lineage_rows_for_the_path": self.sql(BY_PATH, path=str(self.folder("daily_totals")),
                                                      since=self.since).first().n}

    def _fix(self):
        self.by_name = True
        return {"refresh": "writeTo(table).overwrite (through the table name)"}

    def _verify(self) -> Verdict:
        how = self.refresh()
        sources = sorted({r.source_table_full_name for r in self.upstream().collect()})
        ok = self.table("orders") in sources
        return Verdict(ok, f"refreshed with {how}; upstream in lineage: {', '.join(sources) or 'none'}",
                       {"written_by": how, "upstream": sources})
