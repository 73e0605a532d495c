"""Deployed pipelines by id: what a bundle deploy registers, so that a job's ``pipeline_task`` runs the pipeline
the bundle deployed (its sources, name, schema and configuration), as a Databricks job runs a pipeline by its id.

The id is the one the pipeline's updates carry (``runner.pipeline_id_for``: name, catalog and schema), so the
event log, ``system.lakeflow`` and the owner of its tables agree with the job that ran it.

>>> settings = {"sources": ["notebooks/pipelines/orders"], "name": "orders_pipeline",
...             "catalog": "dev_catalog", "schema": "analytics", "configuration": {}}
>>> pipeline_id = register(settings)                  # doctest: +SKIP
>>> lookup(pipeline_id)["name"]                       # doctest: +SKIP
'orders_pipeline'
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .. import paths
from .runner import pipeline_id_for


def registry_file() -> Path:
    return paths.under(paths.lab_root(), "pipelines") / "deployed.json"


def id_of(settings: dict) -> str:
    """The id of the pipeline with these settings (its name, catalog and schema)."""
    return pipeline_id_for(settings["name"], settings["catalog"], settings["schema"])


def register(settings: dict) -> str:
    """Record a deployed pipeline's settings (``sources``, ``name``, ``catalog``, ``schema``,
    ``configuration``); returns its id. The file is replaced in one step, so a reader never sees half of it."""
    pipeline_id = id_of(settings)
    known = _read()
    known[pipeline_id] = settings
    folder = registry_file().parent
    with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as out:
        json.dump(known, out, indent=2, default=str)
    os.replace(out.name, registry_file())
    return pipeline_id


def lookup(pipeline_id: str) -> dict | None:
    """The settings of deployed pipeline ``pipeline_id``, or None when no deploy registered it."""
    return _read().get(pipeline_id)


def _read() -> dict:
    path = registry_file()
    return json.loads(path.read_text()) if path.exists() else {}
