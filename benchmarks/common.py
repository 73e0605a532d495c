"""Helpers shared by the benchmark scripts: timing, medians, and writing results."""
from __future__ import annotations

import json
import platform
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


def interleaved_medians(calls: dict, repeat: int = 3) -> dict:
    """``{name: median seconds}`` of each call, run in turn (a, b, c, a, b, c, …) after one warm-up each, so
    a session still warming up (JIT, caches) does not favour whichever is measured last."""
    for call in calls.values():
        call()
    times: dict = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - started)
    return {name: round(statistics.median(t), 3) for name, t in times.items()}


def save(name: str, figures: dict, ratios: dict, notes: str = "") -> None:
    RESULTS.mkdir(exist_ok=True)
    payload = {"benchmark": name, "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
               "figures_seconds": figures, "ratios": {k: round(v, 3) for k, v in ratios.items()}, "notes": notes,
               "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload, indent=2))
