"""``lakehouse-lab monitor history|dashboard|alerts``: observability from the shell.

    lakehouse-lab monitor history --days 90 --runs-per-day 24     # (re)generate labelled run history
    lakehouse-lab monitor dashboard --days 30 --html dashboard.html
    lakehouse-lab monitor alerts --slack-url http://127.0.0.1:9000/slack --smtp 127.0.0.1:1025 --to oncall@x.com

``alerts`` exits 0 when nothing is pending, 1 when some delivery is waiting for its receiver.
"""
from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser("monitor", help="run history, dashboards and alerts from the system tables")
    sub = parser.add_subparsers(dest="monitor_command", metavar="ACTION", required=True)

    p = sub.add_parser("history", help="replace the generated run history (labelled trigger = 'GENERATED')")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--runs-per-day", type=int, default=24)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=_history)

    p = sub.add_parser("dashboard", help="write the monitoring dashboard to an HTML file")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--html", default="dashboard.html", help="output file (default: dashboard.html)")
    p.set_defaults(func=_dashboard)

    p = sub.add_parser("alerts", help="evaluate the standard alert rules and deliver new or pending alerts")
    p.add_argument("--smtp", default=None, metavar="HOST:PORT", help="SMTP server for email alerts")
    p.add_argument("--to", action="append", default=[], help="email recipient (repeatable)")
    p.add_argument("--slack-url", default=None, help="Slack-shaped incoming webhook URL")
    p.add_argument("--pagerduty-url", default=None, help="PagerDuty Events v2-shaped URL")
    p.add_argument("--job", default=None, help="only this job (default: every job)")
    p.set_defaults(func=_alerts)


def _spark():
    import lakehouse_lab as lab

    return lab.start()


def _history(args) -> int:
    from .generator import generate_history

    result = generate_history(_spark(), days=args.days, runs_per_day=args.runs_per_day, seed=args.seed)
    print(f"{result.runs} generated runs over {args.days} days: {result.outcomes}")
    return 0


def _dashboard(args) -> int:
    from .charts import dashboard

    path = dashboard(_spark(), days=args.days).save_html(args.html)
    print(f"dashboard written to {path}")
    return 0


def _alerts(args) -> int:
    from . import alerts

    channels = {}
    if args.smtp:
        host, _, port = args.smtp.rpartition(":")
        channels["email"] = alerts.Email(tuple(args.to or ["oncall@localhost"]), host, int(port))
    if args.slack_url:
        channels["chat"] = alerts.Slack(args.slack_url)
    if args.pagerduty_url:
        channels["paging"] = alerts.PagerDuty(args.pagerduty_url)
    if not channels:
        print("no channel given: pass --smtp, --slack-url and/or --pagerduty-url")
        return 2
    rules = alerts.standard_rules(tuple(channels), job_name=args.job)
    report = alerts.AlertManager(_spark(), rules, channels).evaluate()
    for alert, channel in report.sent + report.pending:
        print(f"{'sent   ' if (alert, channel) in report.sent else 'PENDING'} {channel:7} {alert.summary}")
    print(f"{len(report.sent)} sent, {len(report.pending)} pending, {len(report.suppressed)} already sent")
    for channel, error in report.errors.items():
        print(f"{channel} not delivered: {error}")
    return 1 if report.pending else 0
