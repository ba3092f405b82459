"""Disaster events: current figures up the jurisdiction tree, and what is late.

Figures (never double-counted):
  * each *place* (village, or a township reporting as a whole) counts with its latest live
    report only: highest stage first (核报 > 续报 > 初报), then the latest received;
  * a township = its own latest report when it filed one (the township is the statistical
    unit, its figure includes its villages, which are then shown as ``superseded``),
    otherwise the sum of its villages' latest reports;
  * a county = the sum of its townships; the totals = the sum of the counties.

Deadlines (自然灾害情况统计调查制度; times in China Standard Time):
  * 初报: the township's first report within 1 hour of learning of the disaster
    (``learned_at``, else ``occurred_at``, of its first report);
  * the county passes the 初报 on (``forward``) within 2 hours of its first report arriving;
  * while a township has places still developing (no 核报, latest report not marked
    ``developing: false``), a 续报 every day by 08:00 (received between 00:00 and 08:00 of
    that day) starting the day after its first report;
  * while any township of a county is still developing, the county's own 续报 (a ``forward``
    with stage 续报) every day by 09:00 (forwarded between 00:00 and 09:00 of that day, its
    ``report_date`` that day) starting the day after the county's first report arrived;
    none once the county has forwarded its 核报;
  * once every township of a county is stable, the county's 核报 (``forward`` with stage 核报)
    within 2 working days (Monday–Friday; public holidays and 调休 make-up working days are
    not modelled) of the moment it became stable: the latest ``received`` time among the
    reports that made each place stable (each place's latest report, a 核报 or
    ``developing: false``).

A county passes a stage on with ``forward``: 初报 and 核报 once per county and event, 续报
once per county, event and (China) day.
"""
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.clock import utcnow
from server.errors import Conflict, Forbidden, Invalid, NotFound
from server.extensions import db
from server.models import Jurisdiction
from server.models.jurisdiction import covers, level_of, scope_prefix
from sync.models import SyncRecord

from .common import cst_day_start, from_cst, iso, parse_dt, to_cst
from .disasters import ENTITY, FINAL, INDICATORS, INITIAL, STAGE_RANK, STAGES, UPDATE
from .models import DisasterForward

FIRST_REPORT_DUE = timedelta(hours=1)
FORWARD_DUE = timedelta(hours=2)
FOLLOWUP_HOUR = 8           # the township's daily 续报
COUNTY_FOLLOWUP_HOUR = 9    # the county's daily 续报
FINAL_WORKING_DAYS = 2      # the county's 核报 after the disaster became stable
DIRECT_REPORT_DEATHS_MISSING = 10   # 10+ dead or missing: straight to province and ministry
COMMAND_ROLES = frozenset({"supervisor", "admin"})
LEVELS = ("county", "township", "village")


def township_of(code):
    return code[:9] + "000"


def county_of(code):
    return code[:6] + "000000"


def _sum(figures_list):
    """Indicator-wise sum; an indicator nobody reported stays None (not 0)."""
    out = {}
    for f, *_ in INDICATORS:
        vals = [fig[f] for fig in figures_list if fig.get(f) is not None]
        total = sum(vals) if vals else None
        out[f] = round(total, 4) if isinstance(total, float) else total
    return out


def _figures(data):
    return {f: data.get(f) for f, *_ in INDICATORS}


def _reports(event_id, viewer=None):
    stmt = select(SyncRecord).where(SyncRecord.entity == ENTITY, SyncRecord.event_id == event_id,
                                    SyncRecord.deleted.is_(False))
    if viewer is not None:
        stmt = stmt.where(SyncRecord.jurisdiction_code.startswith(scope_prefix(viewer.jurisdiction_code),
                                                                  autoescape=True))
    return db.session.scalars(stmt).all()


def latest_per_place(reports):
    """{jurisdiction_code: the report that counts for that place}."""
    best = {}
    for r in reports:
        key = (STAGE_RANK.get(r.status, -1), r.created_at, r.id)
        cur = best.get(r.jurisdiction_code)
        if cur is None or key > cur[0]:
            best[r.jurisdiction_code] = (key, r)
    return {code: r for code, (_, r) in best.items()}


def _names(codes):
    if not codes:
        return {}
    return dict(db.session.execute(select(Jurisdiction.code, Jurisdiction.name).where(Jurisdiction.code.in_(codes))).all())


def aggregate(reports):
    """The tree of current figures: {county: {"figures", "townships": {t: {...}}}} and totals."""
    latest = latest_per_place(reports)
    counts = {}
    for r in reports:
        counts[r.jurisdiction_code] = counts.get(r.jurisdiction_code, 0) + 1
    places = {}
    for code, r in latest.items():
        places[code] = {"code": code, "level": level_of(code), "stage": r.status, "report_id": r.id,
                        "reports": counts[code], "updated_at": iso(r.updated_at), "received_at": iso(r.created_at),
                        "figures": _figures(r.data), "superseded": False}
    townships = {}
    for code, p in places.items():
        t = townships.setdefault(township_of(code), {"code": township_of(code), "level": "township",
                                                      "villages": [], "own": None})
        if p["level"] == "township":
            t["own"] = p
        else:
            t["villages"].append(p)
    counties = {}
    for tcode, t in townships.items():
        if t["own"] is not None:
            for v in t["villages"]:
                v["superseded"] = True
            t["figures"], t["source"], t["stage"] = t["own"]["figures"], "township_report", t["own"]["stage"]
        else:
            t["figures"], t["source"] = _sum([v["figures"] for v in t["villages"]]), "sum_of_villages"
            t["stage"] = _stage_of_all([v["stage"] for v in t["villages"]])
        c = counties.setdefault(county_of(tcode), {"code": county_of(tcode), "level": "county", "townships": []})
        c["townships"].append(t)
    for c in counties.values():
        c["figures"] = _sum([t["figures"] for t in c["townships"]])
    totals = _sum([c["figures"] for c in counties.values()])
    return counties, places, totals


def _stage_of_all(stages):
    """核报 only when every place verified; otherwise the least advanced stage seen."""
    if not stages:
        return None
    return min(stages, key=lambda s: STAGE_RANK[s])


def place_stable(r):
    """A place is off the daily 续报 once verified (核报), or once its latest report says the
    disaster stopped developing (the 核报 is then due, not another 续报)."""
    return r.status == FINAL or r.data.get("developing") is False


def cst_date(utc_naive):
    """The China-Standard-Time calendar date of a naive-UTC moment."""
    return to_cst(utc_naive).date()


def add_working_days(utc_naive, n):
    """``utc_naive`` plus ``n`` working days, counted in China time: the same time of day on
    the n-th Monday–Friday after it. A start on a Saturday or Sunday counts from 00:00 of the
    next Monday (Saturday 10:00 + 2 = Wednesday 00:00, the end of Tuesday).

    Public holidays (国庆, 春节, ...) and the 调休 make-up working days on weekends are NOT
    modelled: over a holiday the deadline shown is earlier than the official calendar's.
    """
    local = to_cst(utc_naive)
    if local.weekday() >= 5:
        local = (local + timedelta(days=7 - local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    added = 0
    while added < n:
        local += timedelta(days=1)
        if local.weekday() < 5:
            added += 1
    return from_cst(local)


def _daily_due(first_at, hour, now, met):
    """The daily deadlines at ``hour``:00 China time, from the day after ``first_at`` up to ``now``.

    ``met(start, due)`` says whether that day's report came in [start = 00:00, due].
    Returns (missed: ISO due times, next due time, late: the latest due one was missed).
    """
    missed, last_due = [], None
    d = cst_day_start(first_at) + timedelta(days=1, hours=hour)
    while d <= now:
        if not met(d - timedelta(hours=hour), d):
            missed.append(iso(d))
        last_due, d = d, d + timedelta(days=1)
    late = bool(missed) and last_due is not None and missed[-1] == iso(last_due)
    return missed, d, late


def _county_forwards(event_id):
    """{(county_code, stage): [forwards, oldest first]}."""
    out = {}
    for f in db.session.scalars(select(DisasterForward).where(DisasterForward.event_id == event_id)
                                .order_by(DisasterForward.forwarded_at, DisasterForward.id)):
        out.setdefault((f.county_code, f.stage), []).append(f)
    return out


def lateness(event_id, reports, now):
    """Per township: first report and daily 续报; per county: forward of the 初报, daily 续报, 核报."""
    by_township, by_county = {}, {}
    for r in reports:
        by_township.setdefault(township_of(r.jurisdiction_code), []).append(r)
        by_county.setdefault(county_of(r.jurisdiction_code), []).append(r)
    townships = []
    for tcode, rs in sorted(by_township.items()):
        first = min(rs, key=lambda r: (r.created_at, r.id))
        learned = parse_dt(first.data.get("learned_at")) or parse_dt(first.data.get("occurred_at"))
        due = learned + FIRST_REPORT_DUE if learned else None
        first_late = due is not None and first.created_at > due
        stable = all(place_stable(r) for r in latest_per_place(rs).values())
        missed, next_due, followup_late = [], None, False
        if not stable:
            received = sorted(r.created_at for r in rs)
            missed, next_due, followup_late = _daily_due(
                first.created_at, FOLLOWUP_HOUR, now, lambda start, d: any(start <= t <= d for t in received))
        townships.append({
            "code": tcode, "first_report_received_at": iso(first.created_at), "learned_at": iso(learned),
            "first_report_due_at": iso(due), "first_report_late": first_late,
            "first_report_late_by_s": int((first.created_at - due).total_seconds()) if first_late else 0,
            "stable": stable, "followup_next_due_at": iso(next_due), "followup_late": followup_late,
            "followups_missed": missed})
    forwards = _county_forwards(event_id)
    today = cst_date(now)
    counties = []
    for ccode, rs in sorted(by_county.items()):
        first = min(r.created_at for r in rs)
        due = first + FORWARD_DUE
        fw = (forwards.get((ccode, INITIAL)) or [None])[0]
        done_at = fw.forwarded_at if fw else None
        followups = forwards.get((ccode, UPDATE), [])
        final = (forwards.get((ccode, FINAL)) or [None])[0]
        latest = latest_per_place(rs)
        stable = all(place_stable(r) for r in latest.values())
        # The moment the last place became stable: every place's latest report is then a 核报 or
        # says developing false, and the latest of those arrived last.
        stable_since = max(r.created_at for r in latest.values()) if stable else None
        missed, next_due, followup_late = [], None, False
        if not stable and final is None:
            missed, next_due, followup_late = _daily_due(
                first, COUNTY_FOLLOWUP_HOUR, now,
                lambda start, d: any(f.report_date == cst_date(start) and start <= f.forwarded_at <= d
                                     for f in followups))
        final_due = add_working_days(stable_since, FINAL_WORKING_DAYS) if stable else None
        final_at = final.forwarded_at if final else None
        counties.append({
            "code": ccode, "first_report_received_at": iso(first), "forward_due_at": iso(due),
            "forwarded_at": iso(done_at), "forward_late": (done_at or now) > due,
            "forward_overdue_open": fw is None and now > due,
            "stable": stable, "stable_since": iso(stable_since),
            "followup_next_due_at": iso(next_due), "followup_late": followup_late, "followups_missed": missed,
            "followup_last_report_date": followups[-1].report_date.isoformat() if followups else None,
            "followup_last_forwarded_at": iso(followups[-1].forwarded_at) if followups else None,
            "followup_forwarded_today": any(f.report_date == today for f in followups),
            "final_due_at": iso(final_due), "final_forwarded_at": iso(final_at),
            "final_late": final_due is not None and (final_at or now) > final_due})
    names = _names([t["code"] for t in townships] + [c["code"] for c in counties])
    for x in townships + counties:
        x["name"] = names.get(x["code"])
    late = (any(t["first_report_late"] or t["followup_late"] for t in townships)
            or any(c["forward_late"] or c["followup_late"] or c["final_late"] for c in counties))
    return {"late": late, "townships": townships, "counties": counties}


def summary(viewer, event_id, level="county", now=None):
    """An event's current figures at ``level`` (county | township | village) within ``viewer``'s scope."""
    if level not in LEVELS:
        from server.errors import BadRequest
        raise BadRequest("level 应为 county、township 或 village。")
    now = now or utcnow()
    reports = _reports(event_id, viewer)
    if not reports:
        raise NotFound("没有这个灾害事件，或该事件不在您的辖区内。")
    counties, places, totals = aggregate(reports)
    names = _names(list(places) + [t for c in counties.values() for t in (x["code"] for x in c["townships"])]
                   + list(counties))
    for p in places.values():
        p["name"] = names.get(p["code"])
    if level == "county":
        units = [{"code": c["code"], "name": names.get(c["code"]), "level": "county", "figures": c["figures"],
                  "townships": [{"code": t["code"], "name": names.get(t["code"]), "figures": t["figures"],
                                 "source": t["source"], "stage": t["stage"]} for t in c["townships"]]}
                 for c in counties.values()]
    elif level == "township":
        units = [{"code": t["code"], "name": names.get(t["code"]), "level": "township", "figures": t["figures"],
                  "source": t["source"], "stage": t["stage"],
                  "villages": [{k: v[k] for k in ("code", "name", "stage", "superseded", "figures")} for v in t["villages"]]}
                 for c in counties.values() for t in c["townships"]]
    else:
        units = sorted(places.values(), key=lambda p: p["code"])
    for u in units:
        u.pop("own", None)
    dm = (totals.get("deaths") or 0) + (totals.get("missing") or 0)
    types = sorted({t for r in reports for t in r.data.get("disaster_types") or []})
    return {"event_id": event_id, "level": level, "disaster_types": types,
            "occurred_at": iso(min(parse_dt(r.data["occurred_at"]) for r in reports)),
            "first_received_at": iso(min(r.created_at for r in reports)),
            "stage": _stage_of_all([p["stage"] for p in places.values() if not p["superseded"]]),
            "places_reporting": len(places), "reports": len(reports), "units": sorted(units, key=lambda u: u["code"]),
            "totals": totals, "direct_report_required": dm >= DIRECT_REPORT_DEATHS_MISSING,
            "lateness": lateness(event_id, reports, now), "now": iso(now)}


def list_events(viewer, *, late_only=False, limit=200, now=None):
    """Events with reports in ``viewer``'s scope, newest first, with totals and lateness."""
    now = now or utcnow()
    prefix = scope_prefix(viewer.jurisdiction_code)
    rows = db.session.scalars(select(SyncRecord).where(
        SyncRecord.entity == ENTITY, SyncRecord.deleted.is_(False), SyncRecord.event_id.is_not(None),
        SyncRecord.jurisdiction_code.startswith(prefix, autoescape=True))).all()
    by_event = {}
    for r in rows:
        by_event.setdefault(r.event_id, []).append(r)
    items = []
    for event_id, rs in by_event.items():
        _, places, totals = aggregate(rs)
        late = lateness(event_id, rs, now)
        if late_only and not late["late"]:
            continue
        dm = (totals.get("deaths") or 0) + (totals.get("missing") or 0)
        items.append({"event_id": event_id,
                      "disaster_types": sorted({t for r in rs for t in r.data.get("disaster_types") or []}),
                      "occurred_at": iso(min(parse_dt(r.data["occurred_at"]) for r in rs)),
                      "first_received_at": iso(min(r.created_at for r in rs)),
                      "last_received_at": iso(max(r.created_at for r in rs)),
                      "stage": _stage_of_all([p["stage"] for p in places.values() if not p["superseded"]]),
                      "places_reporting": len(places), "totals": totals,
                      "direct_report_required": dm >= DIRECT_REPORT_DEATHS_MISSING,
                      "late": late["late"], "lateness": late})
    items.sort(key=lambda e: e["first_received_at"], reverse=True)
    return items[:limit]


def _cst_text(utc_naive):
    return to_cst(utc_naive).strftime("%Y-%m-%d %H:%M") + "（北京时间）"


def forward(viewer, event_id, note=None, stage=None, now=None):
    """A county supervisor records that the county passed the event's 初报, a daily 续报 or the
    核报 on to the city/province (上报). 续报: once a day (``report_date`` = today in China
    time) while some place of the county still develops; 核报: once every place is stable."""
    if viewer.role not in COMMAND_ROLES or level_of(viewer.jurisdiction_code) != "county":
        raise Forbidden("只有县级审核/指挥人员可以向上级报送灾情。")
    stage = INITIAL if stage is None else stage
    if stage not in STAGES:
        raise Invalid("报送阶段应为 初报、续报 或 核报。", errors={"stage": ["报送阶段应为 初报、续报 或 核报"]})
    now = now or utcnow()
    county = viewer.jurisdiction_code
    reports = [r for r in _reports(event_id, viewer) if covers(county, r.jurisdiction_code)]
    if not reports:
        raise NotFound("本县没有这个灾害事件的报告。")
    done = _county_forwards(event_id)

    def first_of(s):
        return (done.get((county, s)) or [None])[0]

    report_date = None
    if stage == INITIAL:
        if (prev := first_of(INITIAL)) is not None:
            raise Conflict(f"本县已于 {_cst_text(prev.forwarded_at)}报送过该事件的初报。",
                           forwarded_at=iso(prev.forwarded_at))
    else:
        if first_of(INITIAL) is None:
            raise Conflict("本县尚未报送该事件的初报，请先转报初报。")
        if (prev := first_of(FINAL)) is not None:
            raise Conflict(f"本县已于 {_cst_text(prev.forwarded_at)}报送过该事件的核报"
                           + ("，不再报送续报。" if stage == UPDATE else "。"), forwarded_at=iso(prev.forwarded_at))
        developing = sorted(code for code, r in latest_per_place(reports).items() if not place_stable(r))
        if stage == UPDATE:
            if not developing:
                raise Conflict("灾情已稳定，应报核报。")
            report_date = cst_date(now)
            prev = next((f for f in done.get((county, UPDATE), []) if f.report_date == report_date), None)
            if prev is not None:
                raise Conflict(f"本县 {report_date.isoformat()} 的续报已于 {_cst_text(prev.forwarded_at)}报送过。",
                               forwarded_at=iso(prev.forwarded_at))
        elif developing:
            names = _names(developing)
            listed = "、".join(names.get(c) or c for c in developing[:5]) + (f" 等 {len(developing)} 处" if len(developing) > 5 else "")
            raise Conflict(f"灾情仍在发展，暂不能报核报：{listed}尚未核报，也未在最新一报中标明灾情已稳定。",
                           developing=developing)
    fw = DisasterForward(event_id=event_id, county_code=county, stage=stage, report_date=report_date,
                         forwarded_at=now, forwarded_by_id=viewer.id, note=note)
    db.session.add(fw)
    try:
        db.session.commit()
    except IntegrityError:  # another supervisor of the county forwarded the same stage just now
        db.session.rollback()
        raise Conflict(f"本县刚刚已报送过该事件的{stage}。") from None
    return {"event_id": event_id, "county_code": county, "stage": stage,
            "report_date": report_date.isoformat() if report_date else None,
            "forwarded_at": iso(fw.forwarded_at), "note": note}
