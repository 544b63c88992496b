"""Background jobs of the server (APScheduler 3, jobs kept in the ledger): recompute stale daily rollups.

Run the scheduler in one server process only (`server.scheduler: false` on the other replicas); the job
store in the ledger keeps one schedule for the deployment, and the jobs are safe to run twice anyway.
"""

import logging

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from campuspulse.server.metrics.rollups import advance, refresh_stale

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


def start_scheduler(engine: Engine, every_s: float) -> BackgroundScheduler:
    """Start the background scheduler with the rollup job every `every_s` seconds."""
    key = engine.url.render_as_string(hide_password=True)
    _engines[key] = engine
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="scheduler_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone="UTC",
    )
    scheduler.add_job(refresh_rollups, "interval", seconds=every_s, id="refresh_rollups", replace_existing=True,
                      kwargs={"engine_key": key})  # fmt: skip
    scheduler.start()
    return scheduler
