"""Observability and troubleshooting on the ``system`` tables the pipelines and jobs write.

* :mod:`.queries` — the course's monitoring and troubleshooting queries (parameterised);
* :mod:`.generator` — days of generated run history (labelled as generated) for dashboards and p95s;
* :mod:`.charts` — :func:`dashboard`: one call renders the monitoring dashboard (matplotlib), also to an HTML file;
* :mod:`.alerts` — alert rules on the system tables, sent by SMTP and webhooks, deduplicated, retried;
* :mod:`.drills` — troubleshooting drills: each injects one real fault and checks the fix.
"""
from . import alerts, generator, queries
from .charts import Dashboard, dashboard
from .generator import generate_history, run_faulty_jobs

__all__ = ["alerts", "generator", "queries", "dashboard", "Dashboard", "generate_history", "run_faulty_jobs"]
