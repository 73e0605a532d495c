"""Shared fixtures: one lab Spark session per test process (starting Spark costs seconds)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    import lakehouse_lab as lab

    session = lab.start("dev")
    yield session


@pytest.fixture()
def scratch_schema(spark):
    """A fresh, empty schema in the dev catalog for one test: ``dev_catalog.<name>``; dropped afterwards."""
    import uuid

    name = f"t_{uuid.uuid4().hex[:8]}"
    spark.sql(f"CREATE SCHEMA dev_catalog.{name}")
    yield f"dev_catalog.{name}"
    spark.sql(f"DROP SCHEMA IF EXISTS dev_catalog.{name} CASCADE")
