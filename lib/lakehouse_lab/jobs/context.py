"""The context a running task sees: its parameters (widgets), upstream task values, where its outputs go.

In the runner's process (Python callables) the context is a context variable; in a notebook kernel or a
``spark_python_task`` process it is a JSON file named by ``LAKEHOUSE_LAB_TASK_CONTEXT``. The kernel also gets
``LAKEHOUSE_LAB_ENTITY_TYPE=JOB``, ``LAKEHOUSE_LAB_ENTITY_ID=<job_id>``, ``LAKEHOUSE_LAB_ENTITY_RUN_ID=<run_id>``
and ``LAKEHOUSE_LAB_ENV`` so work done there is attributed to the job run.

>>> from lakehouse_lab.jobs import context
>>> ctx = context.TaskContext(job_id=1, job_name="j", run_id=7, task_key="t", parameters={"x": "1"})
>>> with context.active(ctx):
...     context.current().parameters["x"]
'1'
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

ENV_CONTEXT = "LAKEHOUSE_LAB_TASK_CONTEXT"
MAX_VALUE_BYTES = 48 * 1024


@dataclass
class TaskContext:
    job_id: int
    job_name: str
    run_id: int
    task_key: str
    task_run_id: int = 0
    attempt_number: int = 0
    parameters: dict[str, str] = field(default_factory=dict)
    upstream_values: dict[str, dict] = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    values_path: str | None = None
    exit_path: str | None = None
    exit_value: str | None = None

    def set_value(self, key: str, value) -> None:
        """Record a task value (JSON, at most 48 KiB), in memory and in the values file if any."""
        encoded = json.dumps(value)
        if len(encoded.encode()) > MAX_VALUE_BYTES:
            raise ValueError(f"task value {key!r} of task {self.task_key!r} is {len(encoded.encode())} bytes "
                             f"as JSON; the limit is {MAX_VALUE_BYTES} (48 KiB)")
        self.values[key] = json.loads(encoded)
        if self.values_path:
            Path(self.values_path).write_text(json.dumps(self.values))

    def exit(self, value) -> None:
        self.exit_value = None if value is None else str(value)
        if self.exit_path:
            Path(self.exit_path).write_text(json.dumps({"result": self.exit_value}))

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self)))
        return path


_current: contextvars.ContextVar[TaskContext | None] = contextvars.ContextVar("lakehouse_lab_task", default=None)
_from_file: dict[str, TaskContext] = {}


def current() -> TaskContext | None:
    """The running task's context, or ``None`` outside a job run."""
    found = _current.get()
    if found is not None:
        return found
    path = os.environ.get(ENV_CONTEXT)
    if path and Path(path).exists():
        if path not in _from_file:
            _from_file[path] = TaskContext(**json.loads(Path(path).read_text()))
        return _from_file[path]
    return None


@contextlib.contextmanager
def active(ctx: TaskContext):
    """Make ``ctx`` the current task context in this thread for the body."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
