"""The server's clock. Device clocks are data, never trusted for ordering.

Tests control time by putting a callable under ``app.config["CLOCK"]``.
"""
from datetime import datetime, timezone

from flask import current_app, has_app_context


def utcnow() -> datetime:
    """Naive UTC ``datetime`` (the database stores UTC without zone)."""
    if has_app_context():
        clock = current_app.config.get("CLOCK")
        if clock is not None:
            return clock()
    return datetime.now(timezone.utc).replace(tzinfo=None)


def isoformat(dt):
    return None if dt is None else dt.replace(microsecond=dt.microsecond).isoformat() + "Z"
