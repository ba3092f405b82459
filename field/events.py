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
    that day) starting the day after its first report.
"""
from datetime import timedelta

from sqlalchemy import select

from server.clock import utcnow
from server.errors import Conflict, Forbidden, NotFound
from server.extensions import db
from server.models import Jurisdiction
from server.models.jurisdiction import covers, level_of, scope_prefix
from sync.models import SyncRecord

from .common import cst_day_start, iso, parse_dt
from .disasters import ENTITY, FINAL, INDICATORS, STAGE_RANK
from .models import DisasterForward

FIRST_REPORT_DUE = timedelta(hours=1)
FORWARD_DUE = timedelta(hours=2)
FOLLOWUP_HOUR = 8
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


def lateness(event_id, reports, now):
    """Per township and county: first report, forward and daily follow-up deadlines."""
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
        latest = latest_per_place(rs)
        # A place is off the daily 续报 once verified (核报), or once its latest report says the
        # disaster stopped developing (the 核报 is then due, not another 续报).
        stable = all(r.status == FINAL or r.data.get("developing") is False for r in latest.values())
        missed, next_due, last_due = [], None, None
        if not stable:
            received = sorted(r.created_at for r in rs)
            d = cst_day_start(first.created_at) + timedelta(days=1, hours=FOLLOWUP_HOUR)
            while d <= now:
                start = d - timedelta(hours=FOLLOWUP_HOUR)
                if not any(start <= t <= d for t in received):
                    missed.append(iso(d))
                last_due, d = d, d + timedelta(days=1)
            next_due = d
        followup_late = bool(missed) and last_due is not None and missed[-1] == iso(last_due)
        townships.append({
            "code": tcode, "first_report_received_at": iso(first.created_at), "learned_at": iso(learned),
            "first_report_due_at": iso(due), "first_report_late": first_late,
            "first_report_late_by_s": int((first.created_at - due).total_seconds()) if first_late else 0,
            "stable": stable, "followup_next_due_at": iso(next_due), "followup_late": followup_late,
            "followups_missed": missed})
    forwards = {f.county_code: f for f in db.session.scalars(
        select(DisasterForward).where(DisasterForward.event_id == event_id))}
    counties = []
    for ccode, rs in sorted(by_county.items()):
        first = min(r.created_at for r in rs)
        due = first + FORWARD_DUE
        fw = forwards.get(ccode)
        done_at = fw.forwarded_at if fw else None
        late = (done_at or now) > due
        counties.append({"code": ccode, "first_report_received_at": iso(first), "forward_due_at": iso(due),
                         "forwarded_at": iso(done_at), "forward_late": late,
                         "forward_overdue_open": fw is None and now > due})
    names = _names([t["code"] for t in townships] + [c["code"] for c in counties])
    for x in townships + counties:
        x["name"] = names.get(x["code"])
    late = (any(t["first_report_late"] or t["followup_late"] for t in townships)
            or any(c["forward_late"] for c in counties))
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


def forward(viewer, event_id, note=None, now=None):
    """A county supervisor records that the county passed the event's 初报 on (上报)."""
    if viewer.role not in COMMAND_ROLES or level_of(viewer.jurisdiction_code) != "county":
        raise Forbidden("只有县级审核/指挥人员可以向上级报送灾情。")
    county = viewer.jurisdiction_code
    if not any(covers(county, r.jurisdiction_code) for r in _reports(event_id, viewer)):
        raise NotFound("本县没有这个灾害事件的报告。")
    existing = db.session.scalar(select(DisasterForward).where(
        DisasterForward.event_id == event_id, DisasterForward.county_code == county))
    if existing is not None:
        raise Conflict(f"本县已于 {iso(existing.forwarded_at)} 报送过该事件。")
    fw = DisasterForward(event_id=event_id, county_code=county, forwarded_at=now or utcnow(),
                         forwarded_by_id=viewer.id, note=note)
    db.session.add(fw)
    db.session.commit()
    return {"event_id": event_id, "county_code": county, "forwarded_at": iso(fw.forwarded_at), "note": note}
