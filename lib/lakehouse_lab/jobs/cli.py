"""``lakehouse-lab job run|repair|runs``: the job runner from the shell.

    lakehouse-lab job run notebooks/jobs/course_job.yaml --param orders=2000 [--env dev] [--json]
    lakehouse-lab job repair 1042
    lakehouse-lab job runs --job customer_analytics_pipeline

``job run`` exits 0 when the run's result is SUCCESS, 1 otherwise (2 for an invalid job file).
"""
from __future__ import annotations

import json
import sys
import warnings

EXIT = {"SUCCESS": 0}


def register(subparsers) -> None:
    parser = subparsers.add_parser("job", help="run, repair and list multi-task jobs (Databricks Jobs semantics)")
    sub = parser.add_subparsers(dest="job_command", metavar="ACTION", required=True)

    p = sub.add_parser("run", help="run a job from a JSON/YAML/bundle file and record it in system.lakeflow")
    p.add_argument("spec", help="job file: Jobs API JSON/YAML, or a bundle with resources.jobs")
    p.add_argument("--env", default=None, help="environment (dev, staging, prod)")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="job parameter (repeatable)")
    p.add_argument("--json", action="store_true", help="print the run as JSON")
    p.set_defaults(func=_run)

    p = sub.add_parser("repair", help="rerun the failed tasks of a run (and their dependents)")
    p.add_argument("run_id", type=int)
    p.add_argument("--no-dependents", action="store_true", help="rerun only the failed tasks")
    p.add_argument("--env", default=None, help="environment the run ran in (default: dev)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_repair)

    p = sub.add_parser("runs", help="recent runs from system.lakeflow.job_runs")
    p.add_argument("--job", default=None, help="only runs of this job name")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=_runs)


def _params(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: --param expects KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def _print(run, as_json: bool) -> int:
    if as_json:
        print(json.dumps(as_dict(run), indent=2, default=str))
    else:
        print(f"{run.job.name} run {run.run_id}: {run.result_state} in {run.duration_seconds:.1f} s")
        for key, task in run.tasks.items():
            print(f"  {key:<32} {task.state:<16} attempts={task.attempt_count}")
            if task.error:
                print(f"      {task.error.strip().splitlines()[0]}")  # whole: a path or a name may end it
        for notice in run.notices:
            print(f"  note: {notice}")
    return EXIT.get(run.result_state, 1)


def as_dict(run) -> dict:
    """The run in the shape of a Jobs API ``runs/get`` answer (the fields the lab has)."""
    return {"job_id": run.job_id, "run_id": run.run_id, "run_name": run.job.name,
            "state": {"life_cycle_state": run.state, "result_state": run.result_state,
                      "state_message": run.error_message or ""},
            "start_time": run.start_time, "end_time": run.end_time, "repair_count": run.repair_count,
            "tasks": [{"task_key": k, "state": t.state, "attempts": [
                {"attempt_number": a.attempt_number, "run_id": a.task_run_id, "state": a.state, "error": a.error}
                for a in t.attempts], "values": t.values, "output": t.output} for k, t in run.tasks.items()]}


def _run(args) -> int:
    from . import JobSpecError, run_job

    try:
        with warnings.catch_warnings():  # ignored compute settings: the run's own note says so below
            warnings.filterwarnings("ignore", message=".*compute settings", category=UserWarning)
            run = run_job(args.spec, env=args.env, parameters=_params(args.param), progress=False)
    except JobSpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return _print(run, args.json)


def _repair(args) -> int:
    from . import repair_run

    return _print(repair_run(args.run_id, rerun_dependents=not args.no_dependents, env=args.env), args.json)


def _runs(args) -> int:
    import lakehouse_lab as lab

    from . import history

    history.runs(lab.start(), job=args.job, limit=args.limit).show(args.limit, truncate=60)
    return 0
