"""Background jobs of the server (APScheduler 3, jobs kept in the store): recompute stale daily rollups, and
issue last month's commission reports on the 1st of each month.

Run the scheduler in one server process only (`server.scheduler: false` on the other replicas); the job
store in the store keeps one schedule for the deployment, and the jobs are safe to run twice anyway.
"""

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine

from campuspulse.server.metrics.rollups import advance, refresh_stale
from campuspulse.server.reports.issuing import issue_monthly

log = logging.getLogger(__name__)
_engines: dict[str, Engine] = {}


def refresh_rollups(engine_key: str, limit: int = 2000) -> int:
    """The job: recompute stale days that have ended and roll up the days that ended since (the engine is looked
    up by key, since jobs are stored by reference)."""
    engine = _engines.get(engine_key)
    if engine is None:
        return 0
    done = refresh_stale(engine, limit=limit)
    added = advance(engine)
    if done or added:
        log.info("rollups: %d stale school-days recomputed, %d new school-days rolled up", done, added)
    return done + added


def issue_monthly_reports(engine_key: str, tz: str) -> int:
    """The job: issue last month's report for the city and each district (those already issued are skipped)."""
    engine = _engines.get(engine_key)
    if engine is None:
        return 0
    issued = issue_monthly(engine, datetime.now(ZoneInfo(tz)).date())
    if issued:
        log.info("reports: issued %d monthly commission reports", issued)
    return issued


def start_scheduler(engine: Engine, every_s: float, tz: str = "Asia/Shanghai") -> BackgroundScheduler:
    """Start the background scheduler: the rollup job every `every_s` seconds, the monthly reports at 02:00 on
    the 1st in `tz`."""
    key = engine.url.render_as_string(hide_password=True)
    _engines[key] = engine
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="scheduler_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone="UTC",
    )
    scheduler.add_job(
        refresh_rollups,
        "interval",
        seconds=every_s,
        id="refresh_rollups",
        replace_existing=True,
        kwargs={"engine_key": key},
    )
    scheduler.add_job(
        issue_monthly_reports,
        CronTrigger(day=1, hour=2, timezone=tz),
        id="issue_monthly_reports",
        replace_existing=True,
        kwargs={"engine_key": key, "tz": tz},
    )
    scheduler.start()
    return scheduler
