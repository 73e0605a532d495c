"""``bundle deploy`` / ``bundle run``: register a bundle's jobs and pipelines for a target, run them, and keep
a record of every deployment in ``system.lakeflow.deployments`` (with the Delta versions of the tables it
changed, so a failed deployment can be rolled back with ``RESTORE``).

>>> from lakehouse_lab.environments import deploy
>>> d = deploy.deploy(target="dev", run=True)                        # doctest: +SKIP
>>> d.result, sorted(d.changed_tables())                               # doctest: +SKIP
('SUCCEEDED', ['dev_catalog.analytics.bronze_orders', ...])
"""
from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import re
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .. import config, paths
from ..catalog import ensure_bookkeeping_tables
from ..frames import rows_frame
from .bundles import Bundle, BundleError, load_bundle

DEPLOYMENTS_TABLE = "system.lakeflow.deployments"
DEPLOYMENTS_SCHEMA = ("deployment_id STRING, bundle STRING, target STRING, environment STRING, `commit` STRING, "
                      "branch STRING, started_at TIMESTAMP, finished_at TIMESTAMP, result STRING, "
                      "table_versions STRING, resources STRING, message STRING, deployed_by STRING")
RESOURCE_ID = re.compile(r"\$\{resources\.(jobs|pipelines)\.([A-Za-z0-9_\-]+)\.id\}")


class DeploymentRefused(BundleError):
    """A deployment that must not happen (e.g. production from a dirty tree or another branch)."""


@dataclass
class Deployment:
    """One deployment of a bundle to a target: what ran, the result, and table versions before/after."""

    deployment_id: str
    bundle: Bundle
    environment: str
    commit: str | None
    branch: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    result: str = "RUNNING"  # SUCCEEDED | FAILED | ROLLED_BACK
    table_versions: dict[str, dict] = field(default_factory=dict)
    runs: dict[str, str] = field(default_factory=dict)
    details: dict[str, list] = field(default_factory=dict)
    message: str = ""

    def changed_tables(self) -> dict[str, int | None]:
        """``{table: version before the deploy}`` for every table whose Delta version the deploy changed
        (``None``: the deploy created it)."""
        return {t: v["before"] for t, v in self.table_versions.items() if v["before"] != v["after"]}

    def _repr_html_(self) -> str:
        color = {"SUCCEEDED": "#2a9d8f", "FAILED": "#e63946", "ROLLED_BACK": "#f4a261"}.get(self.result, "#888")
        rows = "".join(f"<tr><td><code>{t}</code></td><td>{v['before']}</td><td>{v['after']}</td></tr>"
                       for t, v in self.table_versions.items())
        return (f"<p><b>Deployment</b> {self.bundle.name} → <code>{self.bundle.target}</code> "
                f"commit <code>{(self.commit or '-')[:8]}</code>: <b style='color:{color}'>{self.result}</b> "
                f"{self.message}</p><table><tr><th>table</th><th>version before</th><th>after</th></tr>{rows}</table>")


def target_environment(bundle: Bundle) -> str:
    """The lab environment a target deploys to: the target's name when it is one (dev, staging, prod)."""
    known = config.environments()
    if bundle.target in known:
        return bundle.target
    catalogs = {config.load_config(e).database.catalog: e for e in known}
    for spec in bundle.resources.get("pipelines", {}).values():
        if spec.get("catalog") in catalogs:
            return catalogs[spec["catalog"]]
    raise BundleError(f"target {bundle.target!r} of bundle {bundle.name!r} matches no lab environment. "
                      f"Name targets after an environment: {', '.join(known)}.")


def git_state(folder: Path) -> tuple[str | None, str | None, list[str]]:
    """``(branch, commit, changed files)`` of the git checkout holding ``folder`` (``None``s if none)."""
    def git(*args):
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True)
        return done.stdout.rstrip("\n") if done.returncode == 0 else None

    if git("rev-parse", "--is-inside-work-tree") != "true":
        return None, None, []
    status = git("status", "--porcelain") or ""
    return git("rev-parse", "--abbrev-ref", "HEAD"), git("rev-parse", "HEAD"), status.splitlines()


def check_production(bundle: Bundle) -> tuple[str | None, str | None]:
    """A ``mode: production`` target deploys only from a clean checkout of its branch (``main``)."""
    branch, commit, changes = git_state(bundle.root)
    where = f"target {bundle.target!r} (mode: production) of {bundle.root / 'databricks.yml'}"
    if branch is None:
        raise DeploymentRefused(f"Refused: {where} must deploy from a git checkout; {bundle.root} is not one.")
    if branch != bundle.git_branch:
        raise DeploymentRefused(f"Refused: {where} deploys only from branch {bundle.git_branch!r}; the checkout "
                                f"is on {branch!r}. Merge your change and check out {bundle.git_branch!r}.")
    if changes:
        shown = ", ".join(line[3:] for line in changes[:5]) + (" ..." if len(changes) > 5 else "")
        raise DeploymentRefused(f"Refused: {where} deploys only from a clean working tree; uncommitted "
                                f"changes: {shown}. Commit or stash them first.")
    return branch, commit


def pipeline_sources(bundle: Bundle, spec: dict, key: str) -> list[Path]:
    """The source files of a pipeline resource (``libraries`` of ``file``/``notebook``/``glob``)."""
    files: list[Path] = []
    for lib in spec.get("libraries") or []:
        for kind in ("file", "notebook"):
            if isinstance(lib.get(kind), dict) and lib[kind].get("path"):
                files.append(bundle.path(lib[kind]["path"]))
        if isinstance(lib.get("glob"), dict) and lib["glob"].get("include"):
            pattern = lib["glob"]["include"]
            matched = sorted(p for p in bundle.root.glob(pattern) if p.is_file())
            if not matched:
                raise BundleError(f"resources.pipelines.{key}.libraries: glob {pattern!r} matches no file "
                                  f"under {bundle.root}.")
            files.extend(matched)
    missing = [str(f) for f in files if not f.exists()]
    if not files or missing:
        raise BundleError(f"resources.pipelines.{key}.libraries: "
                          f"{'missing files: ' + ', '.join(missing) if missing else 'no source files'}.")
    return files


def pipeline_settings(bundle: Bundle, key: str, env: str) -> dict:
    """What a deploy registers for pipeline ``key`` (``pipelines.registry``): sources, name, catalog, schema and
    configuration, the environment's catalog and schema filling in what the resource leaves out."""
    spec, database = bundle.resources["pipelines"][key], config.load_config(env).database
    return {"sources": [str(p) for p in pipeline_sources(bundle, spec, key)], "name": spec.get("name", key),
            "catalog": spec.get("catalog", database.catalog), "schema": spec.get("schema", database.schema_name),
            "configuration": spec.get("configuration") or {}}


def pipeline_id(bundle: Bundle, key: str) -> str:
    """The id pipeline ``key`` is deployed under, the one its updates carry: a job's ``pipeline_task`` runs
    the pipeline by it, once the bundle is deployed."""
    from ..pipelines import registry

    return registry.id_of(pipeline_settings(bundle, key, target_environment(bundle)))


def resolved_job(bundle: Bundle, key: str) -> dict:
    """A job resource with ``${resources.pipelines.<key>.id}`` replaced by the deployed pipeline ids."""
    def fill(value):
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, str):
            def one(m):
                kind, ref = m.group(1), m.group(2)
                if ref not in bundle.resources.get(kind, {}):
                    raise BundleError(f"resources.jobs.{key}: {m.group(0)} names no {kind[:-1]} of the bundle. "
                                      f"Defined: {', '.join(bundle.resources.get(kind, {})) or 'none'}.")
                return pipeline_id(bundle, ref) if kind == "pipelines" else ref
            return RESOURCE_ID.sub(one, value)
        return value

    spec = fill(bundle.resources["jobs"][key])
    for task in spec.get("tasks") or []:
        nb = task.get("notebook_task")
        if isinstance(nb, dict) and nb.get("notebook_path") and not Path(nb["notebook_path"]).is_absolute():
            nb["notebook_path"] = str(bundle.path(nb["notebook_path"]))
        py = task.get("spark_python_task")
        if isinstance(py, dict) and py.get("python_file") and not Path(py["python_file"]).is_absolute():
            py["python_file"] = str(bundle.path(py["python_file"]))
    return spec


def validate_resources(bundle: Bundle, env: str) -> dict[str, dict]:
    """Everything a deploy needs, checked before anything is written: sources exist, jobs are valid."""
    from ..pipelines import registry

    catalog = config.load_config(env).database.catalog
    registered = {}
    for key, spec in bundle.resources.get("pipelines", {}).items():
        if spec.get("catalog", catalog) != catalog:
            raise BundleError(f"resources.pipelines.{key}.catalog: {spec['catalog']!r} is not the catalog of "
                              f"environment {env!r} ({catalog}); a target writes only into its own catalog.")
        settings = pipeline_settings(bundle, key, env)
        registered[key] = {"kind": "pipelines", "id": registry.id_of(settings), "spec": spec,
                           "sources": settings["sources"], "settings": settings}
    for key in bundle.resources.get("jobs", {}):
        job = resolved_job(bundle, key)
        try:
            from ..jobs import load_job
        except ImportError:  # the jobs engine is not installed: keep the dict as the registration
            load_job = None
        if load_job is not None:
            try:
                load_job(job)
            except Exception as exc:  # noqa: BLE001 - the jobs engine's message names the task and field
                raise BundleError(f"resources.jobs.{key}: {exc}") from None
            _check_task_files(job, key)
        registered[key] = {"kind": "jobs", "id": job.get("name", key), "spec": job}
    return registered


def _check_task_files(job: dict, key: str) -> None:
    """The notebooks and Python files a job's tasks run exist (as ``databricks bundle validate`` checks)."""
    from ..jobs.tasks import notebook_file

    for i, task in enumerate(job.get("tasks") or []):
        for where, body in ((f"tasks[{i}]", task), (f"tasks[{i}].for_each_task.task",
                                                    (task.get("for_each_task") or {}).get("task") or {})):
            notebook = (body.get("notebook_task") or {}).get("notebook_path")
            python_file = (body.get("spark_python_task") or {}).get("python_file")
            try:
                if notebook:
                    notebook_file(notebook)
            except FileNotFoundError as exc:
                raise BundleError(f"resources.jobs.{key}.{where}.notebook_task.notebook_path: {exc}") from None
            if python_file and not Path(python_file.removeprefix("file://")).exists():
                raise BundleError(f"resources.jobs.{key}.{where}.spark_python_task.python_file: "
                                  f"{python_file} not found")


def register(bundle: Bundle, env: str, commit: str | None, registered: dict) -> Path:
    """Write the target's registrations (what ``bundle run`` finds; its pipelines by id, for jobs) and return
    the state file."""
    from ..pipelines import registry

    for reg in registered.values():
        if reg["kind"] == "pipelines":
            registry.register(reg["settings"])
    path = state_file(bundle)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"bundle": bundle.name, "target": bundle.target, "environment": env,
                                "commit": commit, "resources": registered}, indent=2, default=str))
    return path


def state_file(bundle: Bundle) -> Path:
    """Where a deployment's registrations live (like ``.databricks/bundle/<target>/`` of the CLI)."""
    return paths.lab_root() / "bundles" / bundle.name / bundle.target / "deployment.json"


def deployed(bundle: Bundle) -> dict:
    """The registrations of the last deployment of ``bundle``'s target; an error if it was never deployed."""
    path = state_file(bundle)
    if not path.exists():
        raise BundleError(f"bundle {bundle.name!r} has not been deployed to target {bundle.target!r}: "
                          f"run `lakehouse-lab bundle deploy --target {bundle.target}` first.")
    return json.loads(path.read_text())


@contextlib.contextmanager
def as_environment(env: str):
    """Run the block in a session for ``env`` (its catalog becomes writable), then switch back."""
    import lakehouse_lab as lab

    previous = lab.current_env()
    spark = lab.start(env)
    try:
        yield spark
    finally:
        lab.start(previous)


def deploy(root: Path | str | None = None, target: str | None = None, variables: dict | None = None, *,
           run: bool = False, full_refresh: bool = False, spark=None) -> Deployment:
    """Validate the bundle for ``target``, register its jobs and pipelines, and with ``run=True`` run every
    pipeline of it (``full_refresh``: recompute streaming tables from scratch). Production targets deploy
    only from a clean ``main`` checkout."""
    bundle = load_bundle(root, target, variables)
    env = target_environment(bundle)
    branch, commit, _ = git_state(bundle.root)
    if bundle.mode == "production":
        branch, commit = check_production(bundle)
    registered = validate_resources(bundle, env)
    import lakehouse_lab as lab

    spark = spark or lab.start()
    d = Deployment(uuid.uuid4().hex[:12], bundle, env, commit, branch, _now())
    register(bundle, env, commit, registered)
    try:
        if run:
            run_all(d, registered, spark, full_refresh)
        d.result = "SUCCEEDED" if all(s in ("COMPLETED", "SUCCESS") for s in d.runs.values()) else "FAILED"
        if d.result == "FAILED":
            d.message = "; ".join(f"{k}: {s}{_first_error(d.details.get(k))}" for k, s in d.runs.items()
                                  if s not in ("COMPLETED", "SUCCESS"))
    except Exception as exc:  # noqa: BLE001 - a run that broke is a FAILED deployment (its versions are kept)
        d.result, d.message = "FAILED", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    d.finished_at = _now()
    record(spark, d)
    return d


def _first_error(rows: list | None) -> str:
    """`` (first line of the first error)`` among a run's summary rows, or nothing."""
    error = next((r["error"] for r in rows or [] if r.get("error")), None)
    return f" ({error.splitlines()[0]})" if error else ""


def run_all(d: Deployment, registered: dict, spark, full_refresh: bool = False) -> None:
    """Run every pipeline of the deployment (jobs run on ``bundle run``), recording table versions before
    and after."""
    from . import versions

    tables = _published_schemas(d.bundle, d.environment)
    before = versions.snapshot(spark, tables)
    try:
        for key, reg in registered.items():
            if reg["kind"] != "pipelines":
                continue
            d.runs[key], d.details[key] = run_registered(key, reg, d.environment, full_refresh)
            if d.runs[key] not in ("COMPLETED", "SUCCESS"):
                break
    finally:
        after = versions.snapshot(spark, tables)
        d.table_versions = {t: {"before": before.get(t), "after": after.get(t)}
                            for t in sorted(set(before) | set(after))}


def run_registered(key: str, reg: dict, env: str, full_refresh: bool | list = False, validate_only: bool = False,
                   refresh_selection: list | None = None) -> tuple[str, list]:
    """Run one registered resource; returns its final state (``COMPLETED``/``FAILED``, or a job's result
    state) and a summary (rows per dataset, or per task). For a pipeline, ``full_refresh`` may list tables,
    ``refresh_selection`` selects tables, and ``validate_only`` resolves its flows without running them."""
    if reg["kind"] == "pipelines":
        from ..pipelines import run_pipeline

        spec = reg["spec"]
        update = run_pipeline([Path(s) for s in reg["sources"]], env=env, name=spec.get("name", key),
                              configuration=spec.get("configuration"), schema=spec.get("schema"),
                              full_refresh=full_refresh, validate_only=validate_only,
                              refresh_selection=refresh_selection)
        return update.state, update.summary()
    if validate_only or refresh_selection or isinstance(full_refresh, list):
        raise BundleError(f"--validate-only, --refresh and --full-refresh TABLE,… apply to pipelines; "
                          f"{key!r} is a job")
    from ..jobs import run_job

    job_run = run_job(reg["spec"], env=env)  # in a session for its target; the caller's environment comes back
    return job_run.result_state or "FAILED", [{"run_id": job_run.run_id, "error": job_run.error_message}]


def run(key: str, root: Path | str | None = None, target: str | None = None,
        variables: dict | None = None, full_refresh: bool | list = False, validate_only: bool = False,
        refresh_selection: list | None = None) -> tuple[str, list]:
    """``bundle run``: run one deployed job or pipeline of the target (see :func:`run_registered` for a
    pipeline's options); returns its final state and summary."""
    bundle = load_bundle(root, target, variables)
    state = deployed(bundle)
    if key not in state["resources"]:
        raise BundleError(f"no deployed job or pipeline {key!r} in target {bundle.target!r}. "
                          f"Deployed: {', '.join(state['resources']) or 'none'}.")
    return run_registered(key, state["resources"][key], state["environment"], full_refresh, validate_only,
                          refresh_selection)


def _published_schemas(bundle: Bundle, env: str) -> list[tuple[str, str]]:
    cfg = config.load_config(env)
    found = {(spec.get("catalog", cfg.database.catalog), spec.get("schema", cfg.database.schema_name))
             for spec in bundle.resources.get("pipelines", {}).values()}
    return sorted(found or {(cfg.database.catalog, cfg.database.schema_name)})


def record(spark, d: Deployment) -> None:
    """Append the deployment to ``system.lakeflow.deployments`` (created on first use)."""
    ensure_bookkeeping_tables(spark, {DEPLOYMENTS_TABLE: DEPLOYMENTS_SCHEMA})
    row = (d.deployment_id, d.bundle.name, d.bundle.target, d.environment, d.commit, d.branch, d.started_at,
           d.finished_at, d.result, json.dumps(d.table_versions), json.dumps(d.runs), d.message[:4000],
           getpass.getuser())
    rows_frame(spark, [row], DEPLOYMENTS_SCHEMA).write.mode("append").saveAsTable(DEPLOYMENTS_TABLE)


def update_result(spark, d: Deployment) -> None:
    """Change a recorded deployment's result (e.g. to ``ROLLED_BACK``); values go in as literals."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    DeltaTable.forName(spark, DEPLOYMENTS_TABLE).update(
        F.col("deployment_id") == F.lit(d.deployment_id),
        {"result": F.lit(d.result), "message": F.lit(d.message[:4000])})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
