"""Running one attempt of one task, per task kind, with a deadline that really stops it.

Notebook tasks run in their own Jupyter kernel (papermill, in a worker process); ``spark_python_task`` files
in their own Python process — on timeout the whole process tree is killed. Both attach to the runner's Spark
driver when it has one (:mod:`lakehouse_lab.driver`), as tasks share a job cluster; their Spark jobs are
cancelled with the process. Python callables and
``pipeline_task`` run in a thread of the runner's process sharing its Spark session: on timeout their Spark
jobs are cancelled and an exception is raised in the thread at its next Python instruction.

Workspace notebook paths map to files under ``notebooks/jobs/``: ``/pipelines/01_data_ingestion`` →
``notebooks/jobs/pipelines/01_data_ingestion.ipynb``. A relative path is looked up next to the job file, then
under ``notebooks/``.

>>> resolve_refs("run {{job.run_id}} of {{job.parameters.env}}", {"job.run_id": "7", "job.parameters.env": "dev"}, "t")
'run 7 of dev'
"""
from __future__ import annotations

import ctypes
import importlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .. import driver, paths, run_context
from . import context as task_context

REF = re.compile(r"\{\{\s*([A-Za-z0-9_.\-\[\]]+)\s*\}\}")
REF_INPUT = re.compile(r"\{\{\s*input\s*\}\}")
POLL = 0.02
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class TaskTimeout(BaseException):
    """Raised inside a Python task's thread when its timeout passes. Not an ``Exception``, like
    ``KeyboardInterrupt``: a task's own ``except Exception`` does not swallow it and run on."""


@dataclass
class Outcome:
    state: str                 # SUCCESS | FAILED | TIMEDOUT | CANCELED
    error: str | None = None
    output: str | None = None  # notebook exit value / callable return value
    condition: str | None = None  # "true" / "false" for condition tasks


def resolve_refs(value, refs: dict[str, str], task_key: str):
    """Replace ``{{job.parameters.x}}``, ``{{tasks.t.values.k}}``, ``{{job.run_id}}`` … in strings (deeply)."""
    if isinstance(value, dict):
        return {k: resolve_refs(v, refs, task_key) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_refs(v, refs, task_key) for v in value]
    if not isinstance(value, str):
        return value

    def sub(match):
        name = match.group(1)
        if name not in refs:
            known = ", ".join(sorted(k for k in refs if not k.startswith("tasks."))[:12])
            raise ValueError(f"task {task_key!r}: unknown reference {{{{{name}}}}} (known: {known}, "
                             "tasks.<task>.values.<key>)")
        return refs[name]
    return REF.sub(sub, value)


def notebook_file(notebook_path: str, source_path: str | None = None) -> Path:
    """The ``.ipynb`` behind a task's ``notebook_path`` (see the module docstring for the mapping)."""
    name = notebook_path if notebook_path.endswith(".ipynb") else notebook_path + ".ipynb"
    root = paths.project_root() / "notebooks"
    if name.startswith("/"):
        candidates = [root / "jobs" / name.lstrip("/"), Path(name)]
    else:
        candidates = ([Path(source_path).parent / name] if source_path else []) + [root / name, root / "jobs" / name]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"notebook {notebook_path!r} not found (looked at {', '.join(map(str, candidates))})")


def kill_tree(pid: int) -> None:
    """Kill a process and every process below it (a papermill worker and its kernel)."""
    import psutil

    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    procs = [parent, *parent.children(recursive=True)]
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=5)


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()


def run_subprocess(argv: list[str], env: dict, deadline: float | None, cancel: threading.Event, log: Path) -> Outcome:
    """Run a child process until it ends, its deadline passes (TIMEDOUT) or the run is cancelled."""
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=paths.project_root())
        while proc.poll() is None:
            left = _remaining(deadline)
            if cancel.is_set() or (left is not None and left <= 0):
                kill_tree(proc.pid)
                proc.wait()
                return _stopped(left, "the process was killed")
            time.sleep(0.05)
    if proc.returncode == 0:
        return Outcome("SUCCESS")
    tail = log.read_text(errors="replace").strip().splitlines()[-12:]
    signal = f" (killed by signal {-proc.returncode})" if proc.returncode < 0 else ""
    return Outcome("FAILED", f"exit code {proc.returncode}{signal}: " + "\n".join(tail))


def _stopped(left: float | None, how: str) -> Outcome:
    """TIMEDOUT when the deadline passed, else CANCELED (the run was cancelled, e.g. by the job timeout)."""
    if left is not None and left <= 0.05:
        return Outcome("TIMEDOUT", f"timed out; {how}")
    return Outcome("CANCELED", f"run cancelled; {how}")


def child_env(ctx: task_context.TaskContext, ctx_file: Path, env_name: str) -> dict:
    env = dict(os.environ)
    env.update({task_context.ENV_CONTEXT: str(ctx_file), "LAKEHOUSE_LAB_ENTITY_TYPE": "JOB",
                "LAKEHOUSE_LAB_ENTITY_ID": str(ctx.job_id), "LAKEHOUSE_LAB_ENTITY_RUN_ID": str(ctx.run_id),
                "LAKEHOUSE_LAB_ENV": env_name, "PYTHONPATH": os.pathsep.join(
                    [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)})
    return env


def _workdir(ctx: task_context.TaskContext) -> Path:
    return paths.under(paths.lab_root(), "jobs", "runs", str(ctx.run_id),
                       f"{ctx.task_key.replace('/', '_')}-{ctx.attempt_number}")


def run_notebook(task, ctx, spark, env_name, deadline, cancel, source_path) -> Outcome:
    nb = notebook_file(task.notebook_task.notebook_path, source_path)
    work = _workdir(ctx)
    ctx.values_path, ctx.exit_path = str(work / "values.json"), str(work / "exit.json")
    ctx_file = ctx.write(work / "context.json")
    argv = [sys.executable, "-m", "lakehouse_lab.jobs.notebook_worker", str(ctx_file), str(nb), str(work / nb.name)]
    outcome = _run_child(argv, ctx, ctx_file, env_name, spark, deadline, cancel, work / "output.log")
    _collect(ctx, work, outcome)
    return outcome


def _run_child(argv, ctx, ctx_file: Path, env_name: str, spark, deadline, cancel, log: Path) -> Outcome:
    """Run a task's process, attached to ``spark``'s driver when there is one."""
    env = child_env(ctx, ctx_file, env_name)
    if spark is None or not driver.enabled():
        return run_subprocess(argv, env, deadline, cancel, log)
    with driver.serve_child(spark, _job_group(ctx)) as attach_env:
        return run_subprocess(argv, {**env, **attach_env}, deadline, cancel, log)


def _job_group(ctx: task_context.TaskContext) -> str:
    return f"lakehouse-lab-{ctx.run_id}-{ctx.task_key}-{ctx.attempt_number}"


def run_python_file(task, ctx, spark, env_name, deadline, cancel, source_path) -> Outcome:
    spec = task.spark_python_task
    file = Path(spec.python_file.removeprefix("file://"))
    if not file.is_absolute():
        base = Path(source_path).parent if source_path else paths.project_root()
        file = (base / file) if (base / file).exists() else paths.project_root() / file
    if not file.exists():
        return Outcome("FAILED", f"python_file {spec.python_file!r} not found ({file})")
    work = _workdir(ctx)
    ctx.values_path, ctx.exit_path = str(work / "values.json"), str(work / "exit.json")
    ctx_file = ctx.write(work / "context.json")
    argv = [sys.executable, str(file), *spec.parameters]
    outcome = _run_child(argv, ctx, ctx_file, env_name, spark, deadline, cancel, work / "output.log")
    _collect(ctx, work, outcome)
    return outcome


def _collect(ctx, work: Path, outcome: Outcome) -> None:
    if (work / "values.json").exists():
        ctx.values.update(json.loads((work / "values.json").read_text()))
    if (work / "exit.json").exists():
        outcome.output = json.loads((work / "exit.json").read_text())["result"]


def load_function(function):
    """A callable from itself or from ``"package.module:function"``."""
    if callable(function):
        return function
    module, _, name = str(function).partition(":")
    if not name:
        raise ValueError(f"python_task.function {function!r}: expected 'module:function'")
    target = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    return target


def run_in_thread(body, ctx, spark, deadline, cancel) -> Outcome:
    """Run ``body()`` in a thread as the job's entity with ``ctx`` as task context; stop it on timeout."""
    result: dict = {}
    group = _job_group(ctx)

    def target():
        try:
            with task_context.active(ctx), run_context.entity("JOB", str(ctx.job_id), str(ctx.run_id), spark=spark):
                if spark is not None:
                    spark.sparkContext.setJobGroup(group, f"job run {ctx.run_id} task {ctx.task_key}", True)
                result["value"] = body()
        except TaskTimeout:
            result["timeout"] = True
        except BaseException as exc:  # noqa: BLE001 - a task's failure is its result
            result["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            if spark is not None:
                spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)

    thread = threading.Thread(target=target, name=f"task-{ctx.task_key}", daemon=True)
    thread.start()
    while thread.is_alive():
        left = _remaining(deadline)
        if cancel.is_set() or (left is not None and left <= 0):
            _stop_thread(thread, spark, group)
            return _stopped(left, "the task was stopped")
        thread.join(POLL if left is None else min(POLL, max(left, 0.001)))
    if "error" in result:
        return Outcome("FAILED", result["error"])
    value = result.get("value")
    return Outcome("SUCCESS", output=None if value is None else str(value)[:1000])


def _stop_thread(thread: threading.Thread, spark, group: str) -> None:
    if spark is not None:
        spark.sparkContext.cancelJobGroup(group)
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(TaskTimeout))
    thread.join(5)


def run_callable(task, ctx, spark, refs, deadline, cancel) -> Outcome:
    function = load_function(task.python_task.function)
    kwargs = resolve_refs(task.python_task.kwargs, refs, ctx.task_key)
    return run_in_thread(lambda: function(**kwargs), ctx, spark, deadline, cancel)


def run_pipeline_task(task, ctx, spark, env_name, deadline, cancel) -> Outcome:
    """An update of the task's pipeline: a deployed pipeline's id runs it with the settings its deploy registered
    (``pipelines.registry``); a folder or file of sources runs them under their default name and schema."""
    from ..pipelines import registry, run_pipeline  # lazily: the pipelines package may land after jobs

    spec = task.pipeline_task
    holder: dict = {}

    deployed = registry.lookup(spec.pipeline_id)
    if deployed is None and _UUID.fullmatch(spec.pipeline_id):
        return Outcome("FAILED", f"pipeline id {spec.pipeline_id!r} is not deployed here: deploy its bundle "
                                 "(lakehouse-lab bundle deploy) or give the folder of the pipeline's sources")
    where = dict(source=[Path(s) for s in deployed["sources"]], name=deployed["name"], schema=deployed["schema"],
                 configuration=deployed["configuration"]) if deployed else dict(source=spec.pipeline_id)

    def body():
        update = run_pipeline(**where, env=env_name,
                              full_refresh=spec.full_refresh or spec.full_refresh_selection or False,
                              refresh_selection=spec.refresh_selection or None)
        holder["update"] = update
        return getattr(update, "update_id", None)

    outcome = run_in_thread(body, ctx, spark, deadline, cancel)
    update = holder.get("update")
    if outcome.state == "SUCCESS" and getattr(update, "state", None) != "COMPLETED":
        error = getattr(update, "error", None)
        return Outcome("FAILED", f"pipeline {spec.pipeline_id!r} update {getattr(update, 'update_id', '?')} "
                                 f"ended {getattr(update, 'state', None)}" + (f": {error}" if error else ""))
    return outcome


def evaluate_condition(task, refs, task_key) -> Outcome:
    spec = task.condition_task
    left, right = (resolve_refs(v, refs, task_key) for v in (spec.left, spec.right))
    if spec.op in ("EQUAL_TO", "NOT_EQUAL"):
        met = (left == right) == (spec.op == "EQUAL_TO")
    else:
        try:
            a, b = float(left), float(right)
        except ValueError:
            return Outcome("FAILED", f"condition {spec.op} compares numbers, got {left!r} and {right!r}")
        met = {"GREATER_THAN": a > b, "GREATER_THAN_OR_EQUAL": a >= b, "LESS_THAN": a < b,
               "LESS_THAN_OR_EQUAL": a <= b}[spec.op]
    return Outcome("SUCCESS", output=f"{left!r} {spec.op} {right!r}", condition="true" if met else "false")
