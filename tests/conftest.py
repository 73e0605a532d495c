"""Shared fixtures: one lab Spark session per test process (starting Spark costs seconds)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    import lakehouse_lab as lab

    session = lab.start("dev")
    yield session


@pytest.fixture(autouse=True)
def back_to_dev():
    """Tests that switch the session's environment must not leak it into the next test."""
    yield
    from lakehouse_lab import session

    if session._state["spark"] is not None and session.current_env() != "dev":
        session.start("dev")


@pytest.fixture()
def scratch_schema(spark):
    """A fresh, empty schema in the dev catalog for one test: ``dev_catalog.<name>``; dropped afterwards."""
    import uuid

    name = f"t_{uuid.uuid4().hex[:8]}"
    spark.sql(f"CREATE SCHEMA dev_catalog.{name}")
    yield f"dev_catalog.{name}"
    spark.sql(f"DROP SCHEMA IF EXISTS dev_catalog.{name} CASCADE")
