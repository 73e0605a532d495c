"""Pipeline drills: a broken expectation, and a column renamed upstream.

Both publish a small pipeline into the drill schema (``dev_catalog.drills``) from a SQL file under the lab
root, read evidence from ``system.lakeflow.pipeline_updates`` / ``pipeline_events``, and fix the definition.

>>> d = BrokenExpectation()                              # doctest: +SKIP
>>> d.inject().state, d.diagnose()["expectation"]        # doctest: +SKIP
('FAILED', 'positive_amount')
"""
from __future__ import annotations

import json
import re

from .base import Drill, Verdict

# Errors of the latest update of one pipeline published into one schema (level ERROR: event types are
# lower-case, e.g. flow_progress, so the level is what marks an error).
LATEST_ERRORS = """
WITH latest AS (
  SELECT update_id, state, start_time FROM system.lakeflow.pipeline_updates
  WHERE pipeline_name = :pipeline AND catalog = :catalog AND schema = :schema
  ORDER BY start_time DESC LIMIT 1)
SELECT e.update_id, l.state, e.event_type, e.flow_name, e.message, e.error, e.details, e.timestamp
FROM system.lakeflow.pipeline_events e JOIN latest l ON e.update_id = l.update_id
WHERE e.level = 'ERROR' ORDER BY e.sequence"""

DEFINITION = """
SELECT get_json_object(details, '$.flow_definition.expectations') AS expectations
FROM system.lakeflow.pipeline_events
WHERE update_id = :update AND event_type = 'flow_definition' AND flow_name = :flow"""


class PipelineDrill(Drill):
    """A drill on a one-table pipeline whose definition lives in ``<folder>/silver.sql``."""

    issue_type = "DLT Failure"

    @property
    def pipeline(self) -> str:
        return f"drill_{self.name}"

    def write_definition(self, sql: str) -> None:
        (self.folder("pipeline") / "silver.sql").write_text(sql)

    def definition(self) -> str:
        """The pipeline's SQL as it is now."""
        return (self.folder("pipeline") / "silver.sql").read_text()

    def run_pipeline(self):
        """One update of the drill's pipeline (``PipelineUpdate``)."""
        from ...pipelines import run_pipeline

        return run_pipeline(self.folder("pipeline"), name=self.pipeline, schema=self.schema)

    def latest_errors(self):
        """ERROR events of the pipeline's latest update (a DataFrame, empty when it completed)."""
        return self.sql(LATEST_ERRORS, pipeline=self.pipeline, catalog=self.catalog, schema=self.schema)

    def _first_update(self, rows: int, definition: str) -> None:
        """Create the drill's source (``rows`` orders), write ``definition`` and run a healthy first update."""
        self.sql("CREATE OR REPLACE TABLE IDENTIFIER(:t) AS SELECT concat('O', id) AS order_id, "
                 "concat('C', id % 50) AS customer_id, CAST(10 + id % 90 AS DOUBLE) AS amount FROM range(:n)",
                 t=self.table("source"), n=int(rows))
        self.write_definition(definition)
        first = self.run_pipeline()
        if first.state != "COMPLETED":
            raise RuntimeError(f"drill set-up: the first update should complete, got {first.state}: {first.error}")

    def _detect(self):
        return self.latest_errors()

    def _failed_flow(self):
        row = self.latest_errors().where("event_type = 'flow_progress'").first()
        if row is None:
            raise LookupError(f"pipeline {self.pipeline!r}: its latest update has no failed flow")
        return row


class BrokenExpectation(PipelineDrill):
    """Silver has ``EXPECT (amount > 0) ON VIOLATION FAIL UPDATE``; a batch with refunds (amount <= 0) lands."""

    name = "broken_expectation"
    title = "Broken expectation: a FAIL UPDATE rule stops the pipeline"
    lesson = "An expectation with ON VIOLATION FAIL UPDATE fails the whole update on one bad row."
    rule = "CONSTRAINT positive_amount EXPECT (amount > 0) ON VIOLATION {action}"

    def _sql(self, action: str, quarantine: bool = False) -> str:
        props = "\nTBLPROPERTIES ('pipelines.quarantine' = 'true')" if quarantine else ""
        return (f"CREATE OR REFRESH MATERIALIZED VIEW {self.name}_silver (\n"
                f"  CONSTRAINT valid_order_id EXPECT (order_id IS NOT NULL) ON VIOLATION DROP ROW,\n"
                f"  {self.rule.format(action=action)}\n){props}\n"
                f"AS SELECT order_id, customer_id, amount FROM {self.table('source')}\n")

    def _inject(self):
        src = self.table("source")
        self._first_update(300, self._sql("FAIL UPDATE"))
        # the faulty batch: three refunds booked as negative or zero amounts
        self.sql("INSERT INTO IDENTIFIER(:t) VALUES ('R1', 'C1', -25.0), ('R2', 'C2', 0.0), ('R3', 'C3', -5.5)", t=src)
        self.failed = self.run_pipeline()
        return self.failed

    def _diagnose(self) -> dict:
        from pyspark.sql import functions as F

        row = self._failed_flow()
        name = json.loads(row.details)["flow_progress"]["failed_expectation"]
        rules = json.loads(self.sql(DEFINITION, update=row.update_id, flow=row.flow_name).first().expectations)
        rule = next(r for r in rules if r["name"] == name)
        bad = self.spark.table(self.table("source")).where(~F.coalesce(F.expr(rule["condition"]), F.lit(True)))
        return {"update_id": row.update_id, "dataset": row.flow_name, "expectation": name,
                "condition": rule["condition"], "action": rule["action"], "violating_rows": bad.count(),
                "sample": [r.order_id for r in bad.limit(5).collect()]}

    def _fix(self):
        self.write_definition(self._sql("DROP ROW", quarantine=True))
        return {"definition": self.definition()}

    def _verify(self) -> Verdict:
        update = self.run_pipeline()
        evidence = {"update_id": update.update_id, "state": update.state}
        if update.state != "COMPLETED":
            return Verdict(False, f"the update ended {update.state}", evidence)
        silver = self.spark.table(self.table("silver"))
        evidence.update(bad_rows_in_silver=silver.where("amount <= 0").count(), silver_rows=silver.count(),
                        quarantined=self.spark.table(self.table("silver_quarantine")).count())
        ok = evidence["bad_rows_in_silver"] == 0 and evidence["quarantined"] > 0
        return Verdict(ok, f"update {update.state}; {evidence['quarantined']} row(s) quarantined", evidence)


UNRESOLVED = re.compile(r"UNRESOLVED_COLUMN[\w.]*\].*?name `([^`]+)`", re.S)
ERROR_CLASS = re.compile(r"\[([A-Z][A-Z_]+(?:\.[A-Z_]+)?)\]")


class SchemaChange(PipelineDrill):
    """An upstream job overwrites the source with ``amount`` renamed to ``order_amount``."""

    name = "schema_change"
    title = "Schema change upstream: a renamed column breaks the pipeline"
    lesson = "A definition names source columns; an upstream rename makes it unresolvable."

    def _sql(self, amount: str) -> str:
        return (f"CREATE OR REFRESH MATERIALIZED VIEW {self.name}_silver\n"
                f"AS SELECT order_id, customer_id, {amount} FROM {self.table('source')}\nWHERE order_id IS NOT NULL\n")

    def _inject(self):
        src = self.table("source")
        self._first_update(200, self._sql("amount"))
        # the upstream team's release: same data, the column renamed, the table overwritten with the new schema
        renamed = self.spark.range(200).selectExpr("concat('O', id) AS order_id", "concat('C', id % 50) AS customer_id",
                                                   "CAST(10 + id % 90 AS DOUBLE) AS order_amount")
        renamed.write.mode("overwrite").option("overwriteSchema", "true").saveAsTable(src)
        self.failed = self.run_pipeline()
        return self.failed

    def _diagnose(self) -> dict:
        from delta.tables import DeltaTable

        row = self._failed_flow()
        match = UNRESOLVED.search(row.error or "")
        src = self.table("source")
        history = DeltaTable.forName(self.spark, src).history(2).orderBy("version").collect()
        before = set(self.spark.read.option("versionAsOf", history[0].version).table(src).columns)
        now = set(self.spark.table(src).columns)
        change = history[-1]
        return {"update_id": row.update_id, "dataset": row.flow_name,
                "error_class": next(iter(ERROR_CLASS.findall(row.error or "")), None),
                "missing_column": match.group(1) if match else None, "source_table": src,
                "removed_columns": sorted(before - now), "added_columns": sorted(now - before),
                "changed_in_version": change.version, "operation": change.operation,
                "operation_parameters": dict(change.operationParameters or {})}

    def _fix(self):
        self.write_definition(self._sql("order_amount AS amount"))
        return {"definition": self.definition()}

    def _verify(self) -> Verdict:
        update = self.run_pipeline()
        evidence = {"update_id": update.update_id, "state": update.state}
        if update.state != "COMPLETED":
            return Verdict(False, f"the update ended {update.state}", evidence)
        silver = self.spark.table(self.table("silver"))
        evidence.update(columns=silver.columns, rows=silver.count(),
                        source_rows=self.spark.table(self.table("source")).count())
        ok = "amount" in silver.columns and evidence["rows"] == evidence["source_rows"]
        return Verdict(ok, f"update {update.state}; silver keeps column amount", evidence)
