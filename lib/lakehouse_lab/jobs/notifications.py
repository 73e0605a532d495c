"""A run's email and webhook notifications (``on_start``, ``on_success``, ``on_failure``,
``on_duration_warning_threshold_exceeded``), delivered through :mod:`lakehouse_lab.notify`.

Every delivery (or delivery error) is listed in ``run.notices``; a failed delivery never fails the run.
"""
from __future__ import annotations

import threading

from .. import notify

SUBJECT = {"on_start": "started", "on_success": "succeeded", "on_failure": "failed",
           "on_duration_warning_threshold_exceeded": "is running longer than expected"}


def _targets(run, event: str) -> tuple[list[str], list[str]]:
    emails, hooks = [], []
    holders = [run.job] + [t for t in run.job.tasks if t.task_key in run.tasks and event != "on_start"
                           and _task_matches(run.tasks[t.task_key].state, event)]
    for holder in holders:
        if holder.email_notifications is not None:
            emails += getattr(holder.email_notifications, event)
        if holder.webhook_notifications is not None:
            hooks += [ref.id for ref in getattr(holder.webhook_notifications, event)]
    return sorted(set(emails)), sorted(set(hooks))


def _task_matches(state: str, event: str) -> bool:
    return (event == "on_success" and state == "SUCCESS") or (event == "on_failure" and state in
                                                              {"FAILED", "TIMEDOUT"})


def _muted(run, event: str) -> bool:
    settings = run.job.notification_settings
    if settings is None:
        return False
    skipped = run.result_state == "MAXIMUM_CONCURRENT_RUNS_REACHED" and settings.no_alert_for_skipped_runs
    canceled = run.result_state == "CANCELED" and settings.no_alert_for_canceled_runs
    return event == "on_failure" and (skipped or canceled)


def message(run, event: str) -> tuple[str, str]:
    """Subject and body of a notification, in the spirit of the Databricks ones."""
    state = run.result_state or run.state
    subject = f"[lakehouse-lab] Job {run.job.name!r} run {run.run_id} {SUBJECT[event]} ({state})"
    lines = [f"Job: {run.job.name} (job_id {run.job_id})", f"Run: {run.run_id}  state: {state}",
             f"Started: {run.start_time:%Y-%m-%d %H:%M:%S} UTC  duration: {run.duration_seconds:.1f} s"]
    lines += [f"  {k}: {t.state}" + (f" — {t.error.splitlines()[0][:200]}" if t.error else "")
              for k, t in run.tasks.items()]
    return subject, "\n".join(lines)


def send(run, event: str) -> None:
    """Deliver ``event``'s notifications of ``run`` (job level, plus task level for success/failure)."""
    if _muted(run, event):
        return
    emails, hooks = _targets(run, event)
    if not emails and not hooks:
        return
    subject, body = message(run, event)
    if emails:
        try:
            notify.deliver_email(emails, subject, body)
            run.notices.append(f"{event}: email to {', '.join(emails)}")
        except Exception as exc:  # noqa: BLE001 - a notification problem is reported, not fatal
            run.notices.append(f"{event}: email to {', '.join(emails)} failed: {exc}")
    for hook in hooks:
        try:
            notify.deliver_webhook(hook, subject, {"event_type": f"jobs.{event}", "job_id": run.job_id,
                                                   "run_id": run.run_id, "result_state": run.result_state},
                                   severity="warning" if event != "on_failure" else "error")
            run.notices.append(f"{event}: webhook {hook}")
        except Exception as exc:  # noqa: BLE001
            run.notices.append(f"{event}: webhook {hook} failed: {exc}")


def duration_watch(run) -> threading.Timer | None:
    """A timer that sends ``on_duration_warning_threshold_exceeded`` when the run outlasts its health rule."""
    rules = run.job.health.rules if run.job.health else []
    limit = min((r.value for r in rules if r.metric == "RUN_DURATION_SECONDS"), default=None)
    if limit is None:
        return None
    timer = threading.Timer(limit, send, args=(run, "on_duration_warning_threshold_exceeded"))
    timer.daemon = True
    timer.start()
    return timer
