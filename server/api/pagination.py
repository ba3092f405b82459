"""Strict page/per_page parsing and a paginated JSON envelope."""
from flask import request
from sqlalchemy import func, select

from ..errors import BadRequest
from ..extensions import db


def page_args(default_per_page=50, max_per_page=500):
    try:
        page = int(request.args.get("page", 1))
        per_page = int(request.args.get("per_page", default_per_page))
    except ValueError:
        raise BadRequest("page 和 per_page 必须是整数。") from None
    if page < 1 or not 1 <= per_page <= max_per_page:
        raise BadRequest(f"page 从 1 开始，per_page 在 1 到 {max_per_page} 之间。")
    return page, per_page


def paginate(stmt, serialize, default_per_page=50, max_per_page=500):
    page, per_page = page_args(default_per_page, max_per_page)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return {"items": [serialize(r) for r in rows], "page": page, "per_page": per_page, "total": total}
