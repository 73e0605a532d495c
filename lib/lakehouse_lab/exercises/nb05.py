"""Exercises of notebook 05 (environments, bundles, git promotion).

>>> from lakehouse_lab.exercises import nb05 as ex
>>> prod_retries = 2
>>> ex.q1.check().status                                    # doctest: +SKIP
'correct'
"""
from __future__ import annotations

from .core import Problem


def _prod_retries():
    from ..environments.bundles import load_bundle

    job = load_bundle(target="prod").resources["jobs"]["orders_job"]
    return next(t for t in job["tasks"] if t["task_key"] == "refresh_orders").get("max_retries")


def _check_q1(answer) -> str | None:
    expected = _prod_retries()
    if answer == expected:
        return None
    if answer in (None, 0):
        return ("That is the base job in resources/orders_job.yml. The prod target overrides the task with the "
                "same task_key: look at the resolved bundle for target 'prod'.")
    return f"{answer!r} is not what the resolved prod bundle says for task 'refresh_orders'."


q1 = Problem(
    "q1", "Load the course bundle for target 'prod' and return max_retries of task 'refresh_orders' of "
          "'orders_job' (the base job does not set it; the prod target does).",
    check=_check_q1,
    hints=["`load_bundle(target='prod').resources['jobs']['orders_job']['tasks']` is a list of task dicts.",
           "Targets merge their task overrides into the base tasks by `task_key`."],
    solution=("job = load_bundle(target='prod').resources['jobs']['orders_job']\n"
              "prod_retries = next(t for t in job['tasks'] if t['task_key'] == 'refresh_orders')['max_retries']"),
    var="prod_retries")


def _latest_staging_result():
    import lakehouse_lab as lab

    rows = lab.start().sql("SELECT result FROM system.lakeflow.deployments WHERE target = 'staging' "
                           "ORDER BY started_at DESC LIMIT 1").collect()
    return rows[0].result if rows else None


def _check_q2(answer) -> str | None:
    expected = _latest_staging_result()
    if expected is None:
        return "No staging deployment is recorded yet: run the promotion cells above first."
    if not isinstance(answer, str):
        return f"Return the result as a string (e.g. 'SUCCEEDED'), not {type(answer).__name__}."
    if answer == expected:
        return None
    return (f"{answer!r} is not the result of the most recent staging deployment. Order by started_at, newest "
            "first, and take one row.")


q2 = Problem(
    "q2", "Query system.lakeflow.deployments for the result of the most recent deployment to staging.",
    check=_check_q2,
    hints=["Filter on `target = 'staging'`.", "`ORDER BY started_at DESC LIMIT 1`, then take `.result`."],
    solution=("last_staging_result = spark.sql(\"SELECT result FROM system.lakeflow.deployments \"\n"
              "    \"WHERE target = 'staging' ORDER BY started_at DESC LIMIT 1\").first().result"),
    var="last_staging_result")


def _check_q3(answer) -> str | None:
    from ..environments.bundles import BundleError, load_bundle

    if not isinstance(answer, dict):
        return "Return a dict of --var overrides, e.g. {'name': 'value'}."
    try:
        bundle = load_bundle(target="staging", variables=answer)
    except BundleError as exc:
        return f"The bundle does not accept these overrides: {exc}"
    recipients = bundle.resources["jobs"]["orders_job"]["email_notifications"]["on_failure"]
    if recipients != ["qa-team@company.com"]:
        return f"With these overrides staging's job alerts {recipients}, not ['qa-team@company.com']."
    return None


q3 = Problem(
    "q3", "Give the --var overrides (a dict) that make the staging job alert qa-team@company.com on failure.",
    check=_check_q3,
    hints=["Which variable does resources/orders_job.yml use under email_notifications.on_failure?"],
    solution="staging_vars = {'alert_email': 'qa-team@company.com'}",
    var="staging_vars")
