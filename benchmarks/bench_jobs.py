"""Runner overhead: a 20-task job of no-op Python tasks, wall time minus task time, per task.

Target: <= 50 ms per task. Printed (and written to benchmarks/results/jobs.json), never asserted.

    python benchmarks/bench_jobs.py [--repeat 3]

Measured side by side in one process: a chain of 20 tasks (every task waits for the one before) and 20
independent tasks (bounded parallelism, max_workers=4), each without and with waiting for the history writer
to commit the run to the ``system.lakeflow`` Delta tables.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

N_TASKS = 20
_spent: list[float] = []


def noop() -> None:
    """A no-op task that records how long its own body took."""
    started = time.perf_counter()
    _spent.append(time.perf_counter() - started)


def _job(shape: str):
    from lakehouse_lab.jobs import job_from_dependencies

    keys = [f"t{i:02d}" for i in range(N_TASKS)]
    deps = {k: ([keys[i - 1]] if shape == "chain" and i else []) for i, k in enumerate(keys)}
    return job_from_dependencies(f"bench_{shape}", deps, task_factory=lambda key: noop)


def measure(shape: str) -> dict:
    from lakehouse_lab import jobs

    job = _job(shape)
    _spent.clear()
    started = time.perf_counter()
    run = jobs.run_job(job, wait=False, progress=False)
    run._thread.join()
    ran = time.perf_counter() - started
    run.wait()
    committed = time.perf_counter() - started
    assert run.result_state == "SUCCESS", run
    task_time = sum(_spent)
    return {"shape": shape, "wall_s": ran, "wall_with_history_commit_s": committed, "task_time_s": task_time,
            "overhead_ms_per_task": (ran - task_time) / N_TASKS * 1000,
            "overhead_with_history_commit_ms_per_task": (committed - task_time) / N_TASKS * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import lakehouse_lab as lab

    lab.start()
    measure("chain")  # warm-up: history tables, writer thread, imports
    results = {}
    for shape in ("chain", "parallel"):
        rows = [measure(shape) for _ in range(args.repeat)]
        results[shape] = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k != "shape"}
    print(f"{'shape':<10}{'wall s':>10}{'task s':>10}{'overhead ms/task':>20}{'+history commit ms/task':>26}")
    for shape, r in results.items():
        print(f"{shape:<10}{r['wall_s']:>10.3f}{r['task_time_s']:>10.4f}{r['overhead_ms_per_task']:>20.1f}"
              f"{r['overhead_with_history_commit_ms_per_task']:>26.1f}")
    worst = max(r["overhead_ms_per_task"] for r in results.values())
    print(f"runner overhead per task (target <= 50 ms): {worst:.1f} ms -> {'met' if worst <= 50 else 'NOT met'}")
    out = Path(__file__).parent / "results" / "jobs.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"target_ms_per_task": 50, "tasks": N_TASKS, "repeat": args.repeat,
                               "results": results}, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
