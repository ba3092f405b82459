"""The vision worker: a non-forking RQ worker, so each model is loaded once per process."""
from flask import current_app
from rq import SimpleWorker

from server.extensions import db
from server.queue import get_queue, get_redis

from . import detectors, inference


class VisionWorker(SimpleWorker):
    """Runs jobs in this process (models stay loaded) and drops the DB session after each."""

    def perform_job(self, job, queue):
        try:
            return super().perform_job(job, queue)
        finally:
            db.session.remove()


def make_worker(app=None, queues=("vision",)):
    app = app or current_app._get_current_object()
    return VisionWorker([get_queue(q, app) for q in queues], connection=get_redis(app))


def preload(app=None):
    """Load every active detector now, so the first photo does not wait for it."""
    app = app or current_app._get_current_object()
    _threads(app)
    for d in detectors.active(app):
        inference.load(d, app.config["VISION_DEVICE"])


def _threads(app):
    inference.set_threads(app.config.get("VISION_THREADS") or 0)
