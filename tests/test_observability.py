"""Observability: generated history, the monitoring queries, the dashboard, alert rules and their delivery."""
import statistics
import uuid

import pytest

from lakehouse_lab.jobs import flush
from lakehouse_lab.notify import SmtpReceiver, WebhookReceiver
from lakehouse_lab.notify.smtp import free_port
from lakehouse_lab.observability import alerts, charts, generator, queries

PROFILE = generator.Profile(failure_rate=0.15, timeout_rate=0.05, retry_rate=0.2, slow_day_rate=0.5,
                            quality_drop_day_rate=0.5)


@pytest.fixture(scope="module")
def history(spark):
    return generator.generate_history(spark, days=3, runs_per_day=12, profile=PROFILE, seed=3)


def _generated_runs(spark):
    return spark.sql(f"SELECT * FROM {queries.JOB_RUNS} WHERE trigger = 'GENERATED'").collect()


def test_generated_history_is_labelled_and_has_the_profile_mix(spark, history):
    runs = _generated_runs(spark)
    assert len(runs) == history.runs > 24
    assert {"SUCCESS", "FAILED"} <= set(history.outcomes)
    assert all(r.run_id >= generator.GENERATED_RUN_IDS and r.job_parameters == {"generated": "true"} for r in runs)
    retried = [r for r in runs if r.attempts > len(generator.TASKS)]
    assert retried and all(r.result_state == "SUCCESS" or r.error_message for r in retried)
    updates = spark.sql(f"SELECT count(*) FROM {queries.PIPELINE_UPDATES} WHERE created_by = :g",
                        args={"g": generator.GENERATOR}).first()[0]
    assert updates == history.pipeline_updates


def test_generating_again_replaces_generated_rows_only(spark, history):
    flush()  # real runs of earlier tests may still be on their way into the history tables
    real_before = spark.sql(f"SELECT count(*) FROM {queries.JOB_RUNS} WHERE trigger <> 'GENERATED'").first()[0]
    again = generator.generate_history(spark, days=2, runs_per_day=6, profile=PROFILE, seed=3)
    try:
        assert len(_generated_runs(spark)) == again.runs < history.runs
        assert spark.sql(f"SELECT count(*) FROM {queries.JOB_RUNS} WHERE trigger <> 'GENERATED'").first()[0] \
            == real_before
    finally:
        generator.generate_history(spark, days=3, runs_per_day=12, profile=PROFILE, seed=3)


def test_profile_rates_are_validated():
    with pytest.raises(ValueError, match="failure_rate"):
        generator.Profile(failure_rate=1.5)


def test_p95_per_day_matches_the_runs_it_summarises(spark, history):
    runs = [r for r in _generated_runs(spark) if r.result_state == "SUCCESS"]
    # a full past day: today's share of the history depends on the hour, and today also has real runs
    day = sorted({r.start_time.date() for r in runs})[-2]
    durations = sorted(r.execution_duration for r in runs if r.start_time.date() == day)
    row = next(r for r in queries.performance(spark, days=5, job_name=generator.COURSE_JOB).collect()
               if r.run_date == day)
    expected = statistics.quantiles(durations, n=100, method="inclusive")[94]
    assert row.p95_duration == pytest.approx(expected, rel=1e-6)
    assert row.run_count >= len(durations)


def test_quality_and_rows_series_come_from_the_event_details(spark, history):
    rates = queries.quality_pass_rates(spark, days=5).collect()
    names = {r.expectation for r in rates}
    assert {"silver_orders.valid_order_id", "silver_orders.positive_amount"} <= names
    assert all(0 <= r.pass_rate <= 1 for r in rates if r.pass_rate is not None)
    assert min(r.pass_rate for r in rates if r.expectation == "silver_orders.valid_order_id") < 0.95
    flows = {r.flow_name for r in queries.rows_per_flow(spark, days=5).collect()}
    assert set(generator.FLOWS) <= flows


def test_dashboard_draws_four_panels_and_writes_html(spark, history, tmp_path):
    board = charts.dashboard(spark, days=5)
    axes = board.figure().axes
    assert len(axes) == 4 and all(ax.has_data() for ax in axes)
    page = board.save_html(tmp_path / "board.html").read_text()
    assert "<svg" in page and "p95" in page


def test_empty_history_gives_labelled_empty_panels():
    board = charts.Dashboard(days=7, outcomes=[], durations=[], quality=[], rows=[])
    axes = board.figure().axes
    assert len(axes) == 4 and not any(ax.has_data() for ax in axes)
    assert all(any("no data in the last 7 days" in t.get_text() for t in ax.texts) for ax in axes)
    assert board.svg().startswith("<svg")


def test_rules_find_slow_runs_quality_drops_and_quiet_jobs(spark, history):
    slow = alerts.DurationAboveP95(job_name=generator.COURSE_JOB, k=1.0, hours=96).evaluate(spark)
    assert slow and all(a.details["execution_duration"] > a.details["p95"] for a in slow)
    drops = alerts.PassRateBelow(expectation="valid_order_id", threshold=0.95, hours=96).evaluate(spark)
    assert drops and all(a.details["pass_rate"] < 0.95 for a in drops)
    quiet = alerts.NoSuccessfulRun(job_name=f"never_ran_{uuid.uuid4().hex[:6]}", hours=1).evaluate(spark)
    assert len(quiet) == 1 and "never" in quiet[0].summary


def test_failure_alert_waits_for_a_receiver_that_is_down_then_is_sent_once(spark):
    generator.run_faulty_jobs(1)
    failed = queries.job_failures(spark, generator.FAULT_JOB, hours_back=24).count()
    port, channel = free_port(), f"chat_{uuid.uuid4().hex[:6]}"
    manager = alerts.AlertManager(spark, [alerts.JobFailed(job_name=generator.FAULT_JOB, channels=(channel,))],
                                  {channel: alerts.Slack(f"http://127.0.0.1:{port}/slack")})
    down = manager.evaluate()
    assert len(down.pending) == failed >= 1 and not down.sent
    hooks = WebhookReceiver(port=port).start()
    try:
        up = manager.evaluate()
        assert len(up.sent) == failed and not up.pending
        assert len(hooks.wait_for(failed)) == failed
        again = manager.evaluate()
        assert not again.sent and len(again.suppressed) == failed
        assert len(hooks.deliveries) == failed
    finally:
        hooks.stop()


def test_email_and_paging_receive_alerts_in_their_shapes(spark):
    inbox, hooks = SmtpReceiver().start(), WebhookReceiver().start()
    job = f"quiet_{uuid.uuid4().hex[:6]}"
    try:
        manager = alerts.AlertManager(spark, [alerts.NoSuccessfulRun(job_name=job, channels=("mail", "page"))], {
            "mail": alerts.Email(("oncall@company.com",), inbox.host, inbox.port),
            "page": alerts.PagerDuty(hooks.url("/pagerduty"))})
        assert len(manager.evaluate().sent) == 2
        mail = inbox.wait_for(1)[0]
        assert mail.subject.startswith("[CRITICAL]") and job in mail.body
        event = hooks.wait_for(1)[0].body
        assert event["event_action"] == "trigger" and event["dedup_key"].startswith("no_successful_run:")
    finally:
        inbox.stop()
        hooks.stop()


def test_a_channel_that_breaks_mid_evaluation_makes_no_other_send_twice(spark):
    class Broken:
        def send(self, alert):
            raise RuntimeError("receiver bug")

    hooks, job = WebhookReceiver().start(), f"quiet_{uuid.uuid4().hex[:6]}"
    channels = {"a_chat": alerts.Slack(hooks.url("/chat")), "m_typo": alerts.Slack("nowhere"), "z_broken": Broken()}
    try:
        manager = alerts.AlertManager(spark, [alerts.NoSuccessfulRun(job_name=job, channels=tuple(channels))],
                                      channels)
        with pytest.raises(RuntimeError, match="receiver bug"):
            manager.evaluate()
        assert len(hooks.wait_for(1)) == 1
        manager.channels["z_broken"] = alerts.Slack(hooks.url("/fixed"))
        report = manager.evaluate()
        assert [c for _, c in report.sent] == ["z_broken"] and [c for _, c in report.suppressed] == ["a_chat"]
        assert [c for _, c in report.pending] == ["m_typo"] and "unknown url type" in report.errors["m_typo"]
        assert [d.path for d in hooks.wait_for(2)] == ["/chat", "/fixed"]
        typo = manager.pending().where("channel = 'm_typo'").first()
        assert typo.attempts == 2 and "unknown url type" in typo.last_error
    finally:
        hooks.stop()


def test_rules_naming_unknown_channels_are_refused(spark):
    with pytest.raises(ValueError, match="pager"):
        alerts.AlertManager(spark, [alerts.JobFailed(channels=("pager",))], {"email": None})


def test_notebook_06_history_has_a_quality_drop_inside_the_q2_window():
    """q2 of notebook 06 must find updates in the generated history alone (a learner may open 06 first)."""
    import datetime as dt

    from lakehouse_lab.exercises import nb06

    _, planned = generator.plan_history(days=30, runs_per_day=24, seed=7)   # the notebook's call
    window_start = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=nb06.WINDOW_DAYS)).date()
    assert [d for d in planned.quality_drop_days if d > window_start]
