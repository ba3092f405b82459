"""/api/v1/console: what the supervisor console reads. Thin: parse, call ``queries``, serialise.

    GET /api/v1/console/config                 map tiles, polling interval, the user
    GET /api/v1/console/queue                  review queue (filters, sort, page) + facet counts
    GET /api/v1/console/records/<entity>/<id>  one record with its conflicts
    GET /api/v1/console/map/<layer>            compact points of one layer (hazard, inspection, ...)
    GET /api/v1/console/disasters/<event>/chain each place's chain of reports (初报 → 续报 → 核报)
    GET /api/v1/console/dashboard              figures the loops stats do not count
"""
from flask import Blueprint, current_app, g, request

from server.api.pagination import page_args
from server.auth.decorators import require_auth
from server.errors import BadRequest
from server.extensions import db

from . import queries

bp = Blueprint("console", __name__, url_prefix="/api/v1/console")
ROLES = ("supervisor", "admin")


def _flag(name):
    value = request.args.get(name, "")
    if value in ("", "0", "false"):
        return False
    if value in ("1", "true"):
        return True
    raise BadRequest(f"{name} 只能是 1/0 或 true/false。")


@bp.get("/config")
@require_auth()
def config():
    cfg = current_app.config
    return {"map": {"tile_url": cfg["MAP_TILE_URL"], "attribution": cfg["MAP_ATTRIBUTION"],
                    "subdomains": cfg["MAP_TILE_SUBDOMAINS"], "center": cfg["MAP_CENTER"],
                    "zoom": cfg["MAP_ZOOM"], "max_zoom": cfg["MAP_MAX_ZOOM"]},
            "positions_poll_ms": cfg["CONSOLE_POSITIONS_POLL_MS"],
            "user": g.user.to_dict()}


@bp.get("/queue")
@require_auth(*ROLES)
def queue():
    a = request.args
    stmt = queries.queue_statement(
        g.user, types=[t for t in a.get("type", "").split(",") if t], status=a.get("status"),
        overdue=_flag("overdue"), level=a.get("level"), enterprise_id=a.get("enterprise_id"),
        jurisdiction=a.get("jurisdiction"), date_from=a.get("date_from"), date_to=a.get("date_to"), q=a.get("q"))
    page, per_page = page_args(default_per_page=50, max_per_page=200)
    rows = db.session.scalars(queries.order(stmt, a.get("sort", "updated"))
                              .limit(per_page).offset((page - 1) * per_page)).all()
    names = queries.enterprise_names(r.enterprise_id for r in rows)
    counts = queries.counts(stmt)
    return {"items": [queries.summary(r, names) for r in rows], "page": page, "per_page": per_page,
            "total": counts["total"], "counts": counts}


@bp.get("/records/<entity>/<record_id>")
@require_auth(*ROLES)
def record(entity, record_id):
    return queries.record(g.user, entity, record_id)


@bp.get("/map/<layer>")
@require_auth(*ROLES)
def map_layer(layer):
    if layer == "enterprise":
        return queries.enterprises_layer(g.user)
    return queries.map_layer(g.user, layer, open_only=_flag("open"))


@bp.get("/disasters/<event_id>/chain")
@require_auth(*ROLES)
def disaster_chain(event_id):
    return queries.event_chain(g.user, event_id)


@bp.get("/dashboard")
@require_auth(*ROLES)
def dashboard():
    return queries.dashboard(g.user)
