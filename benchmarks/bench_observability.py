"""Dashboard on 90 days x 24 runs/day of history: time to query and render it (target <= 5 s).

Printed (and written to benchmarks/results/observability.json), never asserted.

    python benchmarks/bench_observability.py [--days 90] [--runs-per-day 24] [--repeat 3]

Measured in one process after the history is generated: the four dashboard queries alone, the figure drawn to
SVG alone (from the collected series), and the whole call (queries + SVG) — the median of ``--repeat`` runs
after one warm-up.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median_time, save, timed  # noqa: E402

TARGET_SECONDS = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs-per-day", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import lakehouse_lab as lab
    from lakehouse_lab.observability import dashboard, generate_history

    spark = lab.start()
    figures: dict = {}
    with timed(figures, "generate_history"):
        history = generate_history(spark, days=args.days, runs_per_day=args.runs_per_day)
    board = dashboard(spark, days=args.days)
    board.svg()  # warm-up: first query plans and matplotlib font cache
    figures["queries_only"] = median_time(lambda: dashboard(spark, days=args.days), args.repeat)
    figures["svg_only"] = median_time(board.svg, args.repeat)
    figures["dashboard_total"] = median_time(lambda: dashboard(spark, days=args.days).svg(), args.repeat)
    save("observability", figures, {"dashboard_vs_5s_target": figures["dashboard_total"] / TARGET_SECONDS},
         notes=f"{history.runs} runs, {history.pipeline_events} pipeline events over {args.days} days")


if __name__ == "__main__":
    main()
