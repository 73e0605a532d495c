"""Troubleshooting drills (seed §6): each injects one real fault on Spark + Delta and walks the resolution flow.

Every drill works in its own schema of the environment's catalog (``dev_catalog.drills``) with its own small
sources, so it never depends on another notebook. Steps: ``inject()`` → ``detect()`` → ``diagnose()`` →
``fix()`` → ``verify()``.

>>> sorted(DRILLS)
['broken_expectation', 'failing_task', 'missing_lineage', 'schema_change', 'slow_task']
>>> drill("no_such_drill")
Traceback (most recent call last):
...
KeyError: "no drill 'no_such_drill'; drills: broken_expectation, failing_task, missing_lineage, schema_change, slow_task"
>>> d = drill("failing_task")                  # doctest: +SKIP
>>> d.inject(); d.detect().show(); d.diagnose()["root_task"]   # doctest: +SKIP
'convert_currency'
"""
from __future__ import annotations

from .base import ISSUE_STEPS, Drill, DrillError, Verdict, resolution_flow
from .job_drills import FailingTask, root_cause_tasks, task_states
from .lineage_drill import MissingLineage
from .pipeline_drills import BrokenExpectation, SchemaChange
from .slow_task import SlowTask

DRILLS: dict[str, type[Drill]] = {d.name: d for d in
                                  (BrokenExpectation, SchemaChange, FailingTask, SlowTask, MissingLineage)}
DEFAULT_SCHEMA = "drills"


def drill(name: str, **options) -> Drill:
    """A new drill by name (``options`` go to its constructor, e.g. ``schema=``)."""
    if name not in DRILLS:
        raise KeyError(f"no drill {name!r}; drills: {', '.join(sorted(DRILLS))}")
    return DRILLS[name](**options)


def run_all(names: list[str] | None = None, schema: str = DEFAULT_SCHEMA) -> dict[str, Verdict]:
    """Run drills start to finish (all by default); returns each one's verdict."""
    return {name: drill(name, schema=schema).run() for name in (names or list(DRILLS))}


def reset(schema: str = DEFAULT_SCHEMA) -> list[str]:
    """Drop the drill schema (its tables only) and the drills' files and pipeline checkpoints; returns the
    tables dropped. Refuses any schema whose name does not start with ``drills``."""
    import shutil

    import lakehouse_lab as lab

    if not schema.startswith(DEFAULT_SCHEMA):
        raise ValueError(f"reset only drops drill schemas (names starting with {DEFAULT_SCHEMA!r}), not {schema!r}")
    spark = lab.start()
    catalog = lab.current_config().database.catalog
    full = f"{catalog}.{schema}"
    dropped = []
    if spark.catalog.databaseExists(full):
        dropped = [f"{full}.{t.name}" for t in spark.catalog.listTables(full)]
        spark.sql("DROP SCHEMA IDENTIFIER(:s) CASCADE", args={"s": full})
    root = lab.paths.lab_root()
    for folder in (root / "drills" / schema, root / "pipelines" / full):
        shutil.rmtree(folder, ignore_errors=True)
    return dropped


__all__ = ["DRILLS", "drill", "run_all", "reset", "Drill", "DrillError", "Verdict", "resolution_flow",
           "ISSUE_STEPS", "BrokenExpectation", "SchemaChange", "FailingTask", "SlowTask", "MissingLineage",
           "root_cause_tasks", "task_states"]
