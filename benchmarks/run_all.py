"""Run every ``bench_*.py`` in its own process, in a lab root of its own (``.lab-bench``), and print a digest.

The lab root is emptied first, so a run's figures do not depend on the runs before it: the lab's system tables
kept every earlier run's commits, and Delta lists a table's whole log on each write (``pipeline_events`` had
1,119 log files after two weeks of runs, and every pipeline update appends to it and to `pipeline_updates`).

Each benchmark prints its figures and writes ``benchmarks/results/<name>.json``. Pass names to run a subset:
``python benchmarks/run_all.py foundation pipelines``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(names: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in names]
    root = HERE.parent / ".lab-bench"
    shutil.rmtree(root, ignore_errors=True)
    env = {**os.environ, "LAKEHOUSE_LAB_HOME": str(root), "CI": "1"}
    failed = 0
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(script)], env=env, cwd=HERE.parent)
        print(f"--- {script.stem}: exit {code}, {time.perf_counter() - started:.0f} s", flush=True)
        failed += code != 0
    print("\nResults:")
    for result in sorted((HERE / "results").glob("*.json")):
        print(f"  {result.stem}: {json.dumps(json.loads(result.read_text()).get('ratios', {}))}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
