"""/healthz (process up) and /readyz (database and Redis reachable)."""
from flask import Blueprint
from sqlalchemy import text

from .. import queue
from ..errors import problem
from ..extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as e:  # report, don't raise: this endpoint exists to say what is down
        checks["database"] = f"error: {type(e).__name__}"
    try:
        queue.get_redis().ping()
        checks["redis"] = "ok"
    except Exception as e:
        checks["redis"] = f"error: {type(e).__name__}"
    if all(v == "ok" for v in checks.values()):
        return {"status": "ok", "checks": checks}
    return problem(503, "未就绪 Not ready", "数据库或 Redis 不可用。", checks=checks)
