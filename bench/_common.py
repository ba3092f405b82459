"""Helpers shared by the benchmark scripts in this folder (imported as ``_common``).

Nothing from the app is imported at module level: the scripts set DATABASE_URL and
DANBING_INSTANCE_DIR before they import ``server``.
"""
import sys
from pathlib import Path

# The scripts put the repo root on sys.path before importing this module.
from pwa.testing import free_port

__all__ = ["free_port", "pct", "fresh_schema"]


def pct(values, p):
    """The ``p``-th percentile (0-100), linear interpolation as numpy's default; nan when empty."""
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def fresh_schema(app, *, demo=False, erase_anyway=False):
    """Empty database at the latest migrations, with the demo county when ``demo``.

    On PostgreSQL this drops the ``public`` schema, so it refuses (SystemExit) a database
    whose name has neither "test" nor "bench" in it unless ``erase_anyway``. Pushes its own
    app context; calling it inside the caller's is fine.
    """
    from flask_migrate import upgrade
    from sqlalchemy import text

    from server.extensions import db

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            name = db.engine.url.database or ""
            if "test" not in name and "bench" not in name and not erase_anyway:
                sys.exit(f"{Path(sys.argv[0]).stem}: refusing to erase database {name!r} "
                         f"(its name has neither 'test' nor 'bench'; this benchmark drops its schema)")
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade(revision="heads")
        if demo:
            from server.demo import seed_demo
            seed_demo()
