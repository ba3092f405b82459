"""Team location sharing: ingest of GPS fix backlogs, latest positions, tracks, retention.

Knows nothing of HTTP. A phone buffers fixes while offline and sends them in batches; a
batch may arrive twice (the answer was lost), so a fix is identified by (user, device
time, device) and inserted with ``ON CONFLICT DO NOTHING``. Each batch also upserts the member's
row in ``latest_positions`` only when its newest fix is newer than the stored one, so an
old backlog arriving late never moves the member on the map backwards.

Who may see a member's position: the member's own team (same Organisation) and the command
above (supervisors and admins whose jurisdiction covers the member's).
"""
import json
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import DateTime, Integer, Text, cast, delete, func, literal, or_, select, text

from server.clock import utcnow
from server.errors import Forbidden, NotFound, TooLarge
from server.extensions import db
from server.models import User
from server.models.jurisdiction import scope_prefix

from .models import LatestPosition, Position

COMMAND_ROLES = frozenset({"supervisor", "admin"})
FUTURE_SKEW = timedelta(minutes=5)
COLUMNS = ("lat", "lon", "accuracy", "speed", "heading", "battery")
_EPOCH = datetime(1970, 1, 1)


def _insert(table):
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _num(v):
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _device_time(v):
    """ISO 8601 (zone-aware or UTC) or epoch milliseconds, as naive UTC; None when unreadable."""
    if isinstance(v, str):
        try:
            dt = datetime.fromisoformat(v.replace("Z", "+00:00") if v.endswith("Z") else v)
        except ValueError:
            return None
        if dt.tzinfo is not None:
            dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
        return dt
    n = _num(v)
    if n is None or not 0 < n < 1e14:
        return None
    return _EPOCH + timedelta(milliseconds=n)


_OPTIONAL = (("accuracy", 0.0, 1e9), ("speed", 0.0, 1e9), ("heading", 0.0, 360.0), ("battery", 0.0, 100.0))


def _fast_fix(f, now_hi, oldest):
    """The common case, a well-formed fix, with as little work as possible; None sends the
    fix to ``parse_fix``'s full checks (which also word the errors)."""
    t = f.get("device_time")
    if type(t) is not str or t[-1:] != "Z":
        return None
    try:
        t = datetime.fromisoformat(t[:-1])
    except ValueError:
        return None
    if t.tzinfo is not None or not oldest <= t <= now_hi:
        return None
    lat, lon = f.get("lat"), f.get("lon")
    if type(lat) not in (float, int) or type(lon) not in (float, int) or not (-90 <= lat <= 90 and -180 <= lon <= 180) \
            or (-1e-6 < lat < 1e-6 and -1e-6 < lon < 1e-6):
        return None
    row = {"device_time": t, "lat": float(lat), "lon": float(lon)}
    for name, lo, hi in _OPTIONAL:
        v = f.get(name)
        if v is None:
            row[name] = None
        elif type(v) in (float, int) and lo <= v <= hi:
            row[name] = float(v)
        else:
            return None
    if row["battery"] is not None:
        row["battery"] = int(round(row["battery"]))
    return row


def parse_fix(f, now, oldest):
    """One fix as a row dict, or (None, {field: [message]})."""
    if type(f) is dict:
        row = _fast_fix(f, now + FUTURE_SKEW, oldest)
        if row is not None:
            return row, None
    if not isinstance(f, dict):
        return None, {"fix": ["每个定位点应为对象"]}
    errors = {}
    t = _device_time(f.get("device_time"))
    if t is None:
        errors["device_time"] = ["device_time 应为 ISO 8601 时间（如 2026-07-20T08:30:00Z）或毫秒时间戳"]
    elif t > now + FUTURE_SKEW:
        errors["device_time"] = ["定位时间晚于服务器时间，请校准手机时间"]
    elif t < oldest:
        errors["device_time"] = ["定位时间早于位置数据的保留期限，不再接收"]
    lat, lon = _num(f.get("lat")), _num(f.get("lon"))
    if lat is None or not -90 <= lat <= 90:
        errors["lat"] = ["纬度应为 -90 到 90 之间的数字"]
    if lon is None or not -180 <= lon <= 180:
        errors["lon"] = ["经度应为 -180 到 180 之间的数字"]
    if lat is not None and lon is not None and abs(lat) < 1e-6 and abs(lon) < 1e-6:
        errors["lat"] = ["坐标为 (0, 0)，是手机尚未定位时的默认值，不是真实位置"]
    row = {"device_time": t, "lat": None if lat is None else float(lat), "lon": None if lon is None else float(lon)}
    for name, lo, hi, msg in (("accuracy", 0, None, "精度不能为负数"), ("speed", 0, None, "速度不能为负数"),
                              ("heading", 0, 360, "方向应在 0 到 360 度之间"),
                              ("battery", 0, 100, "电量应为 0 到 100 的百分数")):
        v = f.get(name)
        if v is None:
            row[name] = None
            continue
        n = _num(v)
        if n is None or n < lo or (hi is not None and n > hi):
            errors[name] = [msg]
        row[name] = None if n is None else float(n)
    if errors:
        return None, errors
    if row["battery"] is not None:
        row["battery"] = int(round(row["battery"]))
    return row, None


def ingest(user, device_pk, fixes, *, now=None, commit=True):
    """Store a batch of fixes for ``user`` from device ``device_pk``.

    Returns ``{"accepted": new fixes stored, "duplicates": fixes already stored (re-sent),
    "rejected": [{"index": i, "errors": {...}}]}``. A bad fix never stops the batch.
    """
    cfg = current_app.config
    if len(fixes) > cfg["POSITIONS_MAX_BATCH"]:
        raise TooLarge(f"一次最多上传 {cfg['POSITIONS_MAX_BATCH']} 个定位点，请分批上传。",
                       limit=cfg["POSITIONS_MAX_BATCH"])
    now = now or utcnow()
    oldest = now - timedelta(days=cfg["POSITION_RETENTION_DAYS"])
    rows, rejected, seen = [], [], set()
    for i, f in enumerate(fixes):
        row, errors = parse_fix(f, now, oldest)
        if errors:
            rejected.append({"index": i, "errors": errors})
            continue
        if row["device_time"] in seen:
            continue  # the same fix twice in one batch
        seen.add(row["device_time"])
        row["device_pk"], row["user_id"], row["received_at"] = device_pk, user.id, now
        rows.append(row)
    accepted = 0
    if rows:
        newest = max(rows, key=lambda r: r["device_time"])
        if db.session.get_bind().dialect.name == "postgresql":
            accepted = _store_pg(rows, newest)
        else:
            table = Position.__table__
            stmt = _insert(table).on_conflict_do_nothing(index_elements=["user_id", "device_time", "device_pk"])
            accepted = len(db.session.execute(stmt.returning(table.c.device_time), rows).all())
            _upsert_latest(newest)
    if commit:
        db.session.commit()
    return {"accepted": accepted, "duplicates": len(fixes) - len(rejected) - accepted, "rejected": rejected}


# PostgreSQL: one statement of constant text with one array per column. A multi-row VALUES
# list would be a new statement text for every batch size, and psycopg spends longer
# parsing 3,600 placeholders than the server spends inserting the rows.
_PG_STORE = text("""
WITH ins AS (
    INSERT INTO positions (device_pk, device_time, user_id, lat, lon, accuracy, speed, heading, battery, received_at)
    SELECT :device_pk, (e->>0)::timestamp, :user_id, (e->>1)::float8, (e->>2)::float8, (e->>3)::real,
           (e->>4)::real, (e->>5)::real, (e->>6)::smallint, :received_at
    FROM json_array_elements(CAST(:fixes AS json)) AS e
    ON CONFLICT (user_id, device_time, device_pk) DO NOTHING
    RETURNING 1
), latest AS (
    INSERT INTO latest_positions AS lp (user_id, device_pk, device_time, lat, lon, accuracy, speed, heading, battery, received_at)
    VALUES (:user_id, :device_pk, :n_t, :n_lat, :n_lon, :n_acc, :n_spd, :n_hdg, :n_bat, :received_at)
    ON CONFLICT (user_id) DO UPDATE SET device_pk = excluded.device_pk, device_time = excluded.device_time,
        lat = excluded.lat, lon = excluded.lon, accuracy = excluded.accuracy, speed = excluded.speed,
        heading = excluded.heading, battery = excluded.battery, received_at = excluded.received_at
    WHERE lp.device_time < excluded.device_time
)
SELECT count(*) FROM ins
""")


def _store_pg(rows, newest):
    # The fixes travel as one JSON text (json.dumps is C; adapting Python lists to arrays is not).
    first = rows[0]
    fixes = json.dumps([[r["device_time"].isoformat(), r["lat"], r["lon"], r["accuracy"], r["speed"], r["heading"],
                         r["battery"]] for r in rows])
    return db.session.execute(_PG_STORE, {
        "device_pk": first["device_pk"], "user_id": first["user_id"], "received_at": first["received_at"],
        "fixes": fixes, "n_t": newest["device_time"], "n_lat": newest["lat"], "n_lon": newest["lon"],
        "n_acc": newest["accuracy"], "n_spd": newest["speed"], "n_hdg": newest["heading"],
        "n_bat": newest["battery"]}).scalar()


def _upsert_latest(row):
    table = LatestPosition.__table__
    stmt = _insert(table).values(**{c.name: row[c.name] for c in table.columns})
    stmt = stmt.on_conflict_do_update(
        index_elements=["user_id"],
        set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name != "user_id"},
        where=table.c.device_time < stmt.excluded.device_time)
    db.session.execute(stmt)


def visible_members_clause(viewer):
    """Users whose positions ``viewer`` may see: own team, and everyone below the command."""
    conds = [User.id == viewer.id]
    if viewer.organisation_id is not None:
        conds.append(User.organisation_id == viewer.organisation_id)
    if viewer.role in COMMAND_ROLES:
        conds.append(User.jurisdiction_code.startswith(scope_prefix(viewer.jurisdiction_code), autoescape=True))
    return or_(*conds)


def latest(viewer, *, now=None, organisation_id=None, max_age_s=None):
    """Latest fix of each member ``viewer`` may see, with its age in seconds."""
    now = now or utcnow()
    lp = LatestPosition.__table__
    where = [visible_members_clause(viewer)]
    if organisation_id is not None:
        where.append(User.organisation_id == organisation_id)
    if max_age_s is not None:
        where.append(lp.c.device_time >= now - timedelta(seconds=max_age_s))
    if db.session.get_bind().dialect.name == "postgresql":
        return _latest_pg(lp, where, now)
    stmt = (select(lp, User.display_name, User.role, User.organisation_id)
            .join(User, User.id == lp.c.user_id).where(*where))
    items = []
    for r in db.session.execute(stmt):
        items.append({"user_id": r.user_id, "display_name": r.display_name, "role": r.role,
                      "organisation_id": r.organisation_id, "lat": r.lat, "lon": r.lon,
                      "accuracy": r.accuracy, "speed": r.speed, "heading": r.heading, "battery": r.battery,
                      "device_time": _iso(r.device_time), "received_at": _iso(r.received_at),
                      "age_s": int((now - r.device_time).total_seconds())})
    return items


def _pg_iso(column):
    return func.replace(func.to_char(column, 'YYYY-MM-DD"T"HH24:MI:SS.US'), ".000000", "").concat("Z")


def _latest_pg(lp, where, now):
    """The same rows built as one JSON text by PostgreSQL: 2,000 members in a few milliseconds."""
    obj = func.json_build_object(
        "user_id", lp.c.user_id, "display_name", User.display_name, "role", User.role,
        "organisation_id", User.organisation_id, "lat", lp.c.lat, "lon", lp.c.lon, "accuracy", lp.c.accuracy,
        "speed", lp.c.speed, "heading", lp.c.heading, "battery", lp.c.battery,
        "device_time", _pg_iso(lp.c.device_time), "received_at", _pg_iso(lp.c.received_at),
        "age_s", cast(func.floor(func.extract("epoch", literal(now, DateTime) - lp.c.device_time)), Integer))
    stmt = select(func.coalesce(cast(func.json_agg(obj), Text), "[]")).select_from(
        lp.join(User.__table__, User.id == lp.c.user_id)).where(*where)
    return json.loads(db.session.execute(stmt).scalar())


def track(viewer, user_id, start, end, *, limit=20000):
    """Fixes of one member between ``start`` and ``end`` (device time), oldest first."""
    target = db.session.get(User, user_id)
    if target is None:
        raise NotFound("没有这个用户。")
    if not db.session.scalar(select(User.id).where(User.id == user_id, visible_members_clause(viewer))):
        raise Forbidden("只有本队成员和上级指挥人员可以查看该队员的位置。")
    p = Position.__table__
    rows = db.session.execute(
        select(p.c.device_time, p.c.lat, p.c.lon, p.c.accuracy, p.c.speed, p.c.heading, p.c.battery)
        .where(p.c.user_id == user_id, p.c.device_time >= start, p.c.device_time < end)
        .order_by(p.c.device_time).limit(limit + 1)).all()
    items = [{"device_time": _iso(r.device_time), "lat": r.lat, "lon": r.lon, "accuracy": r.accuracy,
              "speed": r.speed, "heading": r.heading, "battery": r.battery} for r in rows[:limit]]
    return {"user_id": user_id, "display_name": target.display_name, "from": _iso(start), "to": _iso(end),
            "items": items, "truncated": len(rows) > limit}


def purge(now=None):
    """Delete fixes older than POSITION_RETENTION_DAYS; returns (fixes, latest rows) deleted."""
    now = now or utcnow()
    cutoff = now - timedelta(days=current_app.config["POSITION_RETENTION_DAYS"])
    n = db.session.execute(delete(Position).where(Position.device_time < cutoff)).rowcount
    m = db.session.execute(delete(LatestPosition).where(LatestPosition.device_time < cutoff)).rowcount
    db.session.commit()
    return n, m


def _iso(dt):
    return None if dt is None else dt.isoformat() + "Z"
