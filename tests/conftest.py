"""Shared fixtures: one lab Spark session per test process (starting Spark costs seconds)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_configure(config):
    """The suite runs in a lab root of its own, ``.lab-tests``, emptied first (``LAKEHOUSE_LAB_HOME``, when set, is
    used as it is). The tests drop and re-create course tables; in the learner's ``.lab`` they would leave, for
    instance, a pipeline checkpoint of a table that no longer exists, and ``make run`` after ``make test`` failed."""
    if os.environ.get("LAKEHOUSE_LAB_HOME"):
        return
    os.environ["LAKEHOUSE_LAB_HOME"] = str(Path(__file__).resolve().parents[1] / ".lab-tests")
    from lakehouse_lab import session

    session.reset()


@pytest.fixture(scope="session")
def spark():
    """The test process's own driver, even when a lab cluster runs in the same lab root (job tasks started by
    the tests still attach to it, as they do for any runner)."""
    import lakehouse_lab as lab
    from lakehouse_lab import driver

    os.environ[driver.ENV_OFF] = "1"
    try:
        session = lab.start("dev")
    finally:
        del os.environ[driver.ENV_OFF]
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


@pytest.fixture()
def last_commit():
    """Reads the ``commitInfo`` of a ``TableLog``'s latest commit from its log file, as Delta wrote it."""
    import json

    def read(log) -> dict:
        folder = Path(log._log.logPath().toUri().getPath())
        actions = [json.loads(line) for line in (folder / f"{log.version():020d}.json").read_text().splitlines()]
        [info] = [a["commitInfo"] for a in actions if "commitInfo" in a]
        return info
    return read
