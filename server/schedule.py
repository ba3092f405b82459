"""``flask schedule``: the housekeeping that must happen on a clock, in one small process.

Each task is a domain function that is safe to run as often as liked; a failing task is
logged and tried again at its next turn, never stopping the others. (cron can run the same
commands instead: ``flask vision sweep``, ``flask loops sweep``, ``flask media cleanup``,
``flask positions purge``.)
"""
import importlib
import logging
import time

import click
from flask.cli import with_appcontext

log = logging.getLogger(__name__)

# (every N seconds, "module:function", why)
TASKS = (
    (60, "vision.pipeline:sweep", "re-queue photo analyses left pending while Redis or a worker was down"),
    (300, "loops.escalation:sweep", "flag overdue 处置单 and escalate them"),
    (600, "media.uploads:cleanup", "remove expired, unfinished uploads"),
    (86400, "field.positions:purge", "drop positions older than the retention period"),
)


def _call(path):
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)()


def run_due(last, now):
    """Run the tasks whose interval has passed; returns {path: result or error}."""
    from .extensions import db
    done = {}
    for every, path, _why in TASKS:
        if now - last.get(path, float("-inf")) < every:
            continue
        last[path] = now
        try:
            done[path] = _call(path)
        except Exception as e:  # one broken task must not stop the others
            db.session.rollback()
            log.exception("scheduled task %s failed", path)
            done[path] = e
        finally:
            db.session.remove()
    return done


@click.command("schedule")
@click.option("--once", is_flag=True, help="run every task once and exit")
@with_appcontext
def schedule_command(once):
    """Run the periodic housekeeping tasks (sweepers, cleanup, retention) forever."""
    last = {}
    while True:
        for path, result in run_due(last, time.monotonic()).items():
            click.echo(f"{path}: {result!r}")
        if once:
            return
        time.sleep(5)
