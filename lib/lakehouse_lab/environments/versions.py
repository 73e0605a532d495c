"""Delta table versions of a deployment's tables, and ``RESTORE`` to them: the data half of a rollback.

>>> from lakehouse_lab.environments import versions
>>> before = versions.snapshot(spark, [("staging_catalog", "analytics")])   # doctest: +SKIP
>>> versions.restore(spark, before)                                          # doctest: +SKIP
"""
from __future__ import annotations

import re

from ..catalog import quote
from ..session import LabError

# Tables the lab writes for bookkeeping next to a pipeline's datasets; a rollback leaves them alone.
BOOKKEEPING = re.compile(r"^event_log_")
# What Spark and Delta raise for a name that is no table (or no Delta table): it has no version.
_MISSING = {"TABLE_OR_VIEW_NOT_FOUND", "DELTA_TABLE_NOT_FOUND", "DELTA_MISSING_DELTA_TABLE", "DELTA_NOT_A_DELTA_TABLE"}


def table_version(spark, name: str) -> int | None:
    """The current Delta version of ``name``, ``None`` if there is no such table.

    Read from the Delta log on the driver (about 20 ms), not with ``DESCRIBE HISTORY`` (a Spark job, about 0.5 s
    per table), since a deployment reads every table's version before and after. A table whose log cannot be
    read raises :class:`LabError`: taken for missing, a rollback would drop it."""
    from pyspark.errors import AnalysisException

    from ..pipelines.delta_log import TableLog

    try:
        return TableLog.of(spark, name).snapshot().version
    except AnalysisException as exc:
        if (exc.getCondition() or "") in _MISSING:
            return None
        reason = str(exc)
    except Exception as exc:  # noqa: BLE001 - a Py4J error: the JVM's own message says what is wrong
        java = getattr(exc, "java_exception", None)
        reason = java.toString() if java is not None else str(exc)
    raise LabError(f"cannot read the Delta log of {name}, so its version is unknown: {reason.splitlines()[0]}")


def snapshot(spark, schemas: list[tuple[str, str]]) -> dict[str, int]:
    """``{catalog.schema.table: version}`` of every Delta table in the given ``(catalog, schema)`` pairs."""
    from .. import catalog as lab_catalog

    found = {}
    for cat, schema in schemas:
        for name in lab_catalog.list_tables(spark, cat, schema):
            if BOOKKEEPING.match(name):
                continue
            version = table_version(spark, f"{cat}.{schema}.{name}")
            if version is not None:
                found[f"{cat}.{schema}.{name}"] = version
    return found


def restore(spark, versions: dict[str, int | None]) -> dict[str, str]:
    """Put each table back: ``RESTORE TABLE t TO VERSION AS OF v``, or ``DROP TABLE`` when ``v`` is ``None``
    (the table did not exist). Returns what was done per table."""
    done = {}
    for name, version in versions.items():
        if version is None:
            spark.sql(f"DROP TABLE IF EXISTS {quote(name)}")
            done[name] = "dropped"
        elif table_version(spark, name) != version:
            spark.sql(f"RESTORE TABLE {quote(name)} TO VERSION AS OF {int(version)}")
            done[name] = f"restored to version {int(version)}"
    return done
