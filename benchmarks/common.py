"""Helpers shared by the benchmark scripts: timing, medians, and writing results."""
from __future__ import annotations

import json
import os
import platform
import re
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


@contextmanager
def timed(store: dict, key: str):
    started = time.perf_counter()
    yield
    store[key] = round(time.perf_counter() - started, 3)


def median_time(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)


def interleaved_medians(calls: dict, repeat: int = 3, samples: dict | None = None) -> dict:
    """``{name: median seconds}`` of each call, run in turn (a, b, c, a, b, c, …) after one warm-up each, so
    a session still warming up (JIT, caches) does not favour whichever is measured last. ``samples``, when given,
    receives every measured time, ``{name: [seconds, …]}`` in the order run (a slow spell of the host shows there)."""
    for call in calls.values():
        call()
    times: dict = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - started)
    if samples is not None:
        samples.update({name: [round(t, 3) for t in ts] for name, ts in times.items()})
    return {name: round(statistics.median(t), 3) for name, t in times.items()}


# the driver JVM's threads by what they do; "driver" is the rest (planning, commits, streaming, py4j)
_THREAD_GROUPS = {"jit_compilers": r"C\d CompilerThre", "tasks": r"Executor task",
                  "garbage_collector": r"GC Thread|G1 "}


def jvm_cpu_seconds(spark) -> dict:
    """CPU seconds the session's driver JVM (which also runs the tasks) has used so far, by thread group:
    ``jit_compilers``, ``tasks``, ``garbage_collector`` and ``driver``. Read from Linux's ``/proc``; ``{}`` elsewhere.
    Subtract two readings for the CPU of what ran between them."""
    pid = spark._jvm.java.lang.ProcessHandle.current().pid()
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def cpu(stat: Path) -> tuple[str, float]:
        text = stat.read_text()
        fields = text.rsplit(")", 1)[1].split()  # utime and stime are fields 14 and 15 of stat(5)
        return text[text.index("(") + 1:text.rindex(")")], (int(fields[11]) + int(fields[12])) / tick

    try:
        totals = dict.fromkeys(_THREAD_GROUPS, 0.0)
        for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
            try:
                name, seconds = cpu(stat)
            except OSError:  # the thread ended meanwhile
                continue
            group = next((g for g, pattern in _THREAD_GROUPS.items() if re.match(pattern, name)), None)
            if group:
                totals[group] += seconds
        # the process's own total also counts threads that have ended (short-lived ones are driver work)
        totals["driver"] = cpu(Path(f"/proc/{pid}/stat"))[1] - sum(totals.values())
    except OSError:
        return {}
    return totals


def save(name: str, figures: dict, ratios: dict, notes: str = "") -> None:
    RESULTS.mkdir(exist_ok=True)
    payload = {"benchmark": name, "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
               "figures_seconds": figures, "ratios": {k: round(v, 3) for k, v in ratios.items()}, "notes": notes,
               "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload, indent=2))
