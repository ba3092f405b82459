"""Shared helpers of the vision tests (real models on ultralytics' own photos)."""
import os
import time

import ultralytics

ASSETS = os.path.join(os.path.dirname(ultralytics.__file__), "assets")
BUS = os.path.join(ASSETS, "bus.jpg")
ZIDANE = os.path.join(ASSETS, "zidane.jpg")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def store_photo(data, user=None):
    """A photo arriving on the server (media's storage; blob_stored fires)."""
    from vision import blobio
    return blobio.store(data, kind="photo", mime="image/jpeg", user=user)


def run_worker(app):
    """A real RQ worker (the vision worker, in this process) drains the vision queue."""
    from vision.worker import make_worker
    make_worker(app).work(burst=True)


def requests_of(sha):
    from sqlalchemy import select

    from server.extensions import db
    from vision.models import AnalysisRequest
    db.session.expire_all()
    return db.session.scalars(select(AnalysisRequest).where(AnalysisRequest.sha256 == sha)
                              .order_by(AnalysisRequest.detector)).all()


def wait_for(predicate, timeout=120, interval=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return False
