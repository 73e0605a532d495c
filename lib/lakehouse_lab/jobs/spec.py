"""Job settings as in the Databricks Jobs API 2.1/2.2, validated before anything runs.

A job is loaded from a Python dict (the ``job_config`` of a Jobs API request), a JSON or YAML file, or a
bundle file (``resources.jobs.<key>`` of a ``databricks.yml``-shaped bundle). Every model forbids unknown
fields, so a typo is one error that names the job, the task and the field.

>>> from lakehouse_lab.jobs import load_job
>>> job = load_job({"name": "demo", "tasks": [{"task_key": "a", "python_task": {"function": "builtins:print"}},
...                 {"task_key": "b", "depends_on": [{"task_key": "a"}], "python_task": {"function": "builtins:print"}}]})
>>> [t.task_key for t in job.tasks], job.max_concurrent_runs
(['a', 'b'], 1)
"""
from __future__ import annotations

import difflib
import graphlib
import hashlib
import json
import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator

from ..config import ConfigError, parse_yaml

RUN_IF = ("ALL_SUCCESS", "AT_LEAST_ONE_SUCCESS", "NONE_FAILED", "ALL_DONE", "AT_LEAST_ONE_FAILED", "ALL_FAILED")
KINDS = ("notebook_task", "spark_python_task", "python_task", "pipeline_task", "condition_task",
         "for_each_task", "run_job_task")
CLUSTER_FIELDS = ("new_cluster", "job_cluster_key", "existing_cluster_id", "environment_key", "libraries",
                  "job_clusters", "environments")


class JobSpecError(ValueError):
    """A job definition that cannot run; the message names the job, the task and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class TaskDependency(_Model):
    task_key: str
    outcome: Literal["true", "false"] | None = None


class NotebookTask(_Model):
    notebook_path: str
    base_parameters: dict[str, str] = Field(default_factory=dict)
    source: Literal["WORKSPACE", "GIT"] | None = None
    warehouse_id: str | None = None

    @field_validator("base_parameters", mode="before")
    @classmethod
    def _strings(cls, value):
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (value or {}).items()}


class SparkPythonTask(_Model):
    python_file: str
    parameters: list[str] = Field(default_factory=list)
    source: Literal["WORKSPACE", "GIT"] | None = None


class PythonTask(_Model):
    """Lab extension: a Python callable (or ``"module:function"``) run in the runner's process."""
    function: Any
    kwargs: dict[str, Any] = Field(default_factory=dict)

    @field_serializer("function", when_used="json")
    def _name(self, value):
        if isinstance(value, str):
            return value
        return f"{getattr(value, '__module__', '?')}:{getattr(value, '__qualname__', repr(value))}"


class PipelineTask(_Model):
    pipeline_id: str
    full_refresh: bool = False
    full_refresh_selection: list[str] = Field(default_factory=list)
    refresh_selection: list[str] = Field(default_factory=list)


class ConditionTask(_Model):
    op: Literal["EQUAL_TO", "NOT_EQUAL", "GREATER_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN", "LESS_THAN_OR_EQUAL"]
    left: str
    right: str


class RunJobTask(_Model):
    job_id: int | str
    job_parameters: dict[str, str] = Field(default_factory=dict)


class HealthRule(_Model):
    metric: Literal["RUN_DURATION_SECONDS"]
    op: Literal["GREATER_THAN"]
    value: int


class Health(_Model):
    rules: list[HealthRule] = Field(default_factory=list)


class EmailNotifications(_Model):
    on_start: list[str] = Field(default_factory=list)
    on_success: list[str] = Field(default_factory=list)
    on_failure: list[str] = Field(default_factory=list)
    on_duration_warning_threshold_exceeded: list[str] = Field(default_factory=list)
    on_streaming_backlog_exceeded: list[str] = Field(default_factory=list)
    no_alert_for_skipped_runs: bool = False


class WebhookRef(_Model):
    id: str


class WebhookNotifications(_Model):
    on_start: list[WebhookRef] = Field(default_factory=list)
    on_success: list[WebhookRef] = Field(default_factory=list)
    on_failure: list[WebhookRef] = Field(default_factory=list)
    on_duration_warning_threshold_exceeded: list[WebhookRef] = Field(default_factory=list)
    on_streaming_backlog_exceeded: list[WebhookRef] = Field(default_factory=list)


class NotificationSettings(_Model):
    no_alert_for_skipped_runs: bool = False
    no_alert_for_canceled_runs: bool = False
    alert_on_last_attempt: bool = False


class _TaskBody(_Model):
    """Fields shared by a job task and the task inside a ``for_each_task``."""
    task_key: str
    description: str | None = None
    depends_on: list[TaskDependency] = Field(default_factory=list)
    run_if: Literal[RUN_IF] = "ALL_SUCCESS"  # type: ignore[valid-type]
    notebook_task: NotebookTask | None = None
    spark_python_task: SparkPythonTask | None = None
    python_task: PythonTask | None = None
    pipeline_task: PipelineTask | None = None
    condition_task: ConditionTask | None = None
    run_job_task: RunJobTask | None = None
    timeout_seconds: int = Field(0, ge=0)
    max_retries: int = Field(0, ge=-1)
    min_retry_interval_millis: int = Field(0, ge=0)
    retry_on_timeout: bool = False
    disabled: bool = False
    email_notifications: EmailNotifications | None = None
    webhook_notifications: WebhookNotifications | None = None
    notification_settings: NotificationSettings | None = None
    health: Health | None = None
    # compute: accepted, run on the lab's local Spark
    new_cluster: dict[str, Any] | None = None
    job_cluster_key: str | None = None
    existing_cluster_id: str | None = None
    environment_key: str | None = None
    libraries: list[dict[str, Any]] | None = None

    def kind(self) -> str:
        """The task's kind: ``notebook_task``, ``python_task``, ``for_each_task`` …"""
        return next(k for k in KINDS if getattr(self, k, None) is not None)


class InnerTask(_TaskBody):
    pass


class ForEachTask(_Model):
    inputs: str | list[Any]
    task: InnerTask
    concurrency: int = Field(1, ge=1, le=100)


class Task(_TaskBody):
    for_each_task: ForEachTask | None = None


class JobParameter(_Model):
    name: str
    default: str

    @field_validator("default", mode="before")
    @classmethod
    def _string(cls, value):
        return value if isinstance(value, str) else json.dumps(value)


class JobSettings(_Model):
    name: str = "Untitled"
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    tasks: list[Task] = Field(default_factory=list)
    parameters: list[JobParameter] = Field(default_factory=list)
    timeout_seconds: int = Field(0, ge=0)
    max_concurrent_runs: int = Field(1, ge=1, le=1000)
    email_notifications: EmailNotifications | None = None
    webhook_notifications: WebhookNotifications | None = None
    notification_settings: NotificationSettings | None = None
    health: Health | None = None
    # accepted for compatibility; the lab runs on one local Spark and triggers runs by hand
    job_clusters: list[dict[str, Any]] | None = None
    environments: list[dict[str, Any]] | None = None
    schedule: dict[str, Any] | None = None
    trigger: dict[str, Any] | None = None
    continuous: dict[str, Any] | None = None
    git_source: dict[str, Any] | None = None
    queue: dict[str, Any] | None = None
    run_as: dict[str, Any] | None = None
    permissions: list[dict[str, Any]] | None = None
    access_control_list: list[dict[str, Any]] | None = None
    format: str | None = None
    edit_mode: str | None = None
    max_workers: int = Field(4, ge=1, le=100, description="lab extension: tasks running at once")
    source_path: str | None = Field(None, description="lab: the file the job was loaded from")

    @property
    def job_id(self) -> int:
        """A stable numeric id derived from the job's name (the lab has no workspace to assign one)."""
        return int(hashlib.sha1(self.name.encode()).hexdigest()[:12], 16) % 10**12

    def task(self, key: str) -> Task:
        return next(t for t in self.tasks if t.task_key == key)

    def dependents(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {t.task_key: [] for t in self.tasks}
        for t in self.tasks:
            for d in t.depends_on:
                out[d.task_key].append(t.task_key)
        return out

    def settings_json(self) -> str:
        """The settings as Jobs API JSON (callables shown by their dotted name)."""
        return self.model_dump_json(exclude={"source_path"}, exclude_none=True)


def load_job(source: Any, *, key: str | None = None) -> JobSettings:
    """A validated :class:`JobSettings` from a dict, a JSON/YAML file, or a bundle's ``resources.jobs.<key>``.

    >>> load_job({"name": "x", "tasks": [{"task_key": "a", "depends_on": [{"task_key": "zz"}],
    ...           "python_task": {"function": "builtins:print"}}]})
    Traceback (most recent call last):
    ...
    lakehouse_lab.jobs.spec.JobSpecError: job 'x', task 'a', field depends_on: no task 'zz' in the job (tasks: a)
    """
    if isinstance(source, JobSettings):
        return source
    path = None
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise JobSpecError(f"job file {path}: not found")
        raw = _from_bundle(_parse_file(path), key, path)
    elif isinstance(source, dict):
        raw = _from_bundle(source, key, None) if "resources" in source else source
    else:
        raise JobSpecError(f"a job is a dict, a JSON/YAML file or a bundle file, not {type(source).__name__}")
    job = _validate(raw, where=str(path) if path else None)
    if path is not None:
        job.source_path = str(path.resolve())
    return job


def _parse_file(path: Path) -> Any:
    """The JSON or YAML in ``path``; a syntax error becomes a :class:`JobSpecError` naming file and line."""
    text = path.read_text()
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise JobSpecError(f"job file {path}: line {exc.lineno}, column {exc.colno}: JSON syntax error: "
                               f"{exc.msg}") from None
    try:
        return parse_yaml(text, f"job file {path}")
    except ConfigError as exc:
        raise JobSpecError(str(exc)) from None


def _from_bundle(raw: Any, key: str | None, path: Path | None) -> dict:
    if not isinstance(raw, dict):
        raise JobSpecError(f"job file {path}: expected a mapping at the top level")
    if "resources" not in raw:
        return raw
    jobs = (raw.get("resources") or {}).get("jobs") or {}
    if not jobs:
        raise JobSpecError(f"bundle {path}: no resources.jobs")
    if key is None and len(jobs) > 1:
        raise JobSpecError(f"bundle {path}: several jobs ({', '.join(jobs)}); pass key=")
    key = key or next(iter(jobs))
    if key not in jobs:
        raise JobSpecError(f"bundle {path}: no job {key!r} in resources.jobs ({', '.join(jobs)})")
    body = dict(jobs[key])
    body.setdefault("name", key)
    return body


def _validate(raw: dict, where: str | None) -> JobSettings:
    name = raw.get("name", "Untitled") if isinstance(raw, dict) else "?"
    prefix = f"job {name!r}" + (f" ({where})" if where else "")
    try:
        job = JobSettings.model_validate(raw)
    except ValidationError as exc:
        raise JobSpecError(_describe(exc, raw, prefix)) from None
    _check_graph(job, prefix)
    _notice_cluster_fields(raw, name)
    return job


def _describe(exc: ValidationError, raw: dict, prefix: str) -> str:
    err = exc.errors()[0]
    loc = list(err["loc"])
    task = ""
    if len(loc) >= 2 and loc[0] == "tasks" and isinstance(loc[1], int):
        tasks = raw.get("tasks") or []
        entry = tasks[loc[1]] if loc[1] < len(tasks) else None
        key = entry.get("task_key", f"#{loc[1]}") if isinstance(entry, dict) else f"#{loc[1]}"
        task, loc = f", task {key!r}", loc[2:]
    field = ".".join(str(p) for p in loc) or "(top level)"
    message = _unknown_field(str(loc[-1])) if err["type"] == "extra_forbidden" and loc else err["msg"]
    more = f" (and {len(exc.errors()) - 1} more problems)" if len(exc.errors()) > 1 else ""
    return f"{prefix}{task}, field {field}: {message}{more}"


def _unknown_field(name: str) -> str:
    """``unknown field``, with the nearest field name of any job model (``notebok_task``: notebook_task)."""
    known = {f for model in _Model.__subclasses__() + _TaskBody.__subclasses__() for f in model.model_fields}
    near = difflib.get_close_matches(name, sorted(known), n=1)
    return "unknown field" + (f" (did you mean {near[0]}?)" if near else "")


def _check_graph(job: JobSettings, prefix: str) -> None:
    keys = [t.task_key for t in job.tasks]
    if not keys:
        raise JobSpecError(f"{prefix}, field tasks: a job needs at least one task")
    seen: set[str] = set()
    for t in job.tasks:
        if t.task_key in seen:
            raise JobSpecError(f"{prefix}, task {t.task_key!r}, field task_key: duplicate task_key")
        seen.add(t.task_key)
    for t in job.tasks:
        _check_kind(t, prefix, t.task_key, "")
        if t.for_each_task is not None:
            _check_kind(t.for_each_task.task, prefix, t.task_key, "for_each_task.task.")
        for d in t.depends_on:
            if d.task_key not in seen:
                raise JobSpecError(f"{prefix}, task {t.task_key!r}, field depends_on: no task {d.task_key!r} "
                                   f"in the job (tasks: {', '.join(keys)})")
    graph = {t.task_key: [d.task_key for d in t.depends_on] for t in job.tasks}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        raise JobSpecError(f"{prefix}, task {cycle[0]!r}, field depends_on: cycle "
                           f"{' -> '.join(reversed(cycle))}") from None


def _check_kind(task, prefix: str, key: str, field: str) -> None:
    kinds = [k for k in KINDS if getattr(task, k, None) is not None]
    if len(kinds) != 1:
        raise JobSpecError(f"{prefix}, task {key!r}, field {field}{'/'.join(kinds) or 'notebook_task'}: "
                           f"a task needs exactly one of {', '.join(KINDS)}")


def _notice_cluster_fields(raw: dict, name: str) -> None:
    found = [f for f in CLUSTER_FIELDS if raw.get(f)]
    found += [f"{t.get('task_key')}.{f}" for t in raw.get("tasks") or [] if isinstance(t, dict)
              for f in CLUSTER_FIELDS if t.get(f)]
    if found:
        warnings.warn(f"job {name!r}: compute settings ({', '.join(found)}) are accepted and ignored; "
                      "every task runs on the lab's local Spark.", UserWarning, stacklevel=4)


def _default_task(key: str):
    from .course import TASKS

    if key in TASKS:
        return f"lakehouse_lab.jobs.course:{key}"
    return {"notebook_task": {"notebook_path": f"/tasks/{key}"}}


def job_from_dependencies(name: str, dependencies: dict[str, list[str]], task_factory=None) -> JobSettings:
    """A job from a ``{task: [upstream tasks]}`` mapping (the seed's ``task_dependencies``).

    ``task_factory(task_key)`` returns the task body: a callable, a ``"module:function"`` string, or a dict
    with one task kind (``{"notebook_task": {...}}``). By default a task runs the course function of the same
    name (:mod:`lakehouse_lab.jobs.course`) or else the notebook ``notebooks/jobs/tasks/<task_key>.ipynb``.

    >>> job = job_from_dependencies("demo", {"a": [], "b": ["a"]}, task_factory=lambda key: print)
    >>> [d.task_key for d in job.task("b").depends_on]
    ['a']
    """
    factory = task_factory or _default_task
    tasks = []
    for key, upstream in dependencies.items():
        body = factory(key)
        if callable(body) or isinstance(body, str):
            body = {"python_task": {"function": body}}
        tasks.append({"task_key": key, "depends_on": [{"task_key": u} for u in upstream], **body})
    return load_job({"name": name, "tasks": tasks})
