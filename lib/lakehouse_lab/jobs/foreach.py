"""``for_each_task``: run a nested task once per input, ``concurrency`` at a time; each iteration is recorded
as its own task run ``<task_key>[<i>]`` with its own retries.

>>> parse_inputs('["a", "b"]', "loop")
['a', 'b']
"""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

from . import tasks
from .tasks import Outcome


def parse_inputs(inputs, task_key: str) -> list:
    if isinstance(inputs, list):
        return inputs
    try:
        value = json.loads(inputs)
    except json.JSONDecodeError:
        raise ValueError(f"for_each_task {task_key!r}: inputs must be a JSON array, got {inputs!r}") from None
    if not isinstance(value, list):
        raise ValueError(f"for_each_task {task_key!r}: inputs must be a JSON array, got {inputs!r}")
    return value


_ADDING = threading.Lock()


def run_for_each(run, spark, task, refs, deadline, cancel) -> Outcome:
    from .runner import TaskRun, _run_task

    spec = task.for_each_task
    items = parse_inputs(tasks.resolve_refs(spec.inputs, refs, task.task_key), task.task_key)
    keys = []
    bodies = []
    for i, item in enumerate(items):
        key = f"{task.task_key}[{i}]"
        text = item if isinstance(item, str) else json.dumps(item)
        raw = _substitute(spec.task.model_dump(exclude_none=True), text)
        body = type(spec.task).model_validate({**raw, "task_key": key, "depends_on": []})
        keys.append(key)
        bodies.append(body)
    with _ADDING:  # a new dict, not inserts: other tasks' threads may be iterating over run.tasks right now
        run.tasks = {**run.tasks, **{k: run.tasks.get(k) or TaskRun(k) for k in keys}}
    with ThreadPoolExecutor(max_workers=spec.concurrency, thread_name_prefix=f"{task.task_key}-iter") as pool:
        list(pool.map(lambda body: _run_task(run, spark, run._recorder, body, deadline, cancel), bodies))
    failed = [k for k in keys if run.tasks[k].state != "SUCCESS"]
    if failed:
        return Outcome("FAILED", f"{len(failed)} of {len(keys)} iterations failed: {', '.join(failed[:5])}")
    return Outcome("SUCCESS", output=f"{len(keys)} iterations succeeded")


def _substitute(value, text: str):
    """``{{input}}`` replaced by the iteration's input, everywhere in the nested task."""
    if isinstance(value, dict):
        return {k: _substitute(v, text) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, text) for v in value]
    return tasks.REF_INPUT.sub(text, value) if isinstance(value, str) else value
