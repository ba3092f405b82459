"""Tables of the field subsystem that are not synced records.

Positions are many and small (2,000 phones × one fix per 10 s = 720,000 rows an hour), so
they live in a compact table of their own rather than as SyncRecord documents; the latest
fix of each member is kept in ``latest_positions`` (one row per user, upserted on ingest)
so that the command's map reads 2,000 rows, not millions.
"""
from server.clock import utcnow
from server.extensions import db


class Position(db.Model):
    """One GPS fix.

    The primary key (user, device time, device) is the only index: it serves a member's
    track for a time range, and makes a re-sent backlog idempotent (the same fix comes
    back from the same user on the same device). No foreign keys: ingest is the hot path
    and users and devices are never deleted (they are deactivated / revoked).
    """
    __tablename__ = "positions"

    user_id = db.Column(db.Integer, primary_key=True, autoincrement=False)
    device_time = db.Column(db.DateTime, primary_key=True)
    device_pk = db.Column(db.Integer, primary_key=True, autoincrement=False)
    lat = db.Column(db.Float, nullable=False)
    lon = db.Column(db.Float, nullable=False)
    accuracy = db.Column(db.REAL)
    speed = db.Column(db.REAL)
    heading = db.Column(db.REAL)
    battery = db.Column(db.SmallInteger)
    received_at = db.Column(db.DateTime, nullable=False)


class LatestPosition(db.Model):
    """The newest fix (by device time) of each user."""
    __tablename__ = "latest_positions"

    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), primary_key=True)
    device_pk = db.Column(db.Integer, db.ForeignKey("devices.id"), nullable=False)
    device_time = db.Column(db.DateTime, nullable=False)
    lat = db.Column(db.Float, nullable=False)
    lon = db.Column(db.Float, nullable=False)
    accuracy = db.Column(db.REAL)
    speed = db.Column(db.REAL)
    heading = db.Column(db.REAL)
    battery = db.Column(db.SmallInteger)
    received_at = db.Column(db.DateTime, nullable=False)


class DisasterForward(db.Model):
    """A county passing an event's report on (上报) to the city/province.

    ``stage`` 初报: the first report passed on (2-hour deadline); 续报: the county's daily
    follow-up, ``report_date`` being the China-Standard-Time date whose 09:00 deadline it meets;
    核报: the verified report (2 working days after the disaster became stable).
    初报 and 核报 once per county and event (``report_date`` NULL: the partial unique index,
    since a plain unique constraint treats NULLs as distinct), 续报 once per county, event and day.
    """
    __tablename__ = "disaster_forwards"

    id = db.Column(db.Integer, primary_key=True)
    event_id = db.Column(db.String(36), nullable=False, index=True)
    county_code = db.Column(db.String(12), nullable=False)
    stage = db.Column(db.String(4), nullable=False, default="初报", server_default="初报")
    report_date = db.Column(db.Date)
    forwarded_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    forwarded_by_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False)
    note = db.Column(db.String(500))

    __table_args__ = (
        db.UniqueConstraint("event_id", "county_code", "stage", "report_date",
                            name="uq_disaster_forwards_event_county_stage_date"),
        db.Index("uq_disaster_forwards_once", "event_id", "county_code", "stage", unique=True,
                 sqlite_where=db.text("report_date IS NULL"), postgresql_where=db.text("report_date IS NULL")),
    )
