"""HTTP views of vision. Thin: validate, call, serialise.

    GET  /api/v1/vision/detectors                   the active detectors and their versions
    GET  /api/v1/vision/taxonomy                    hazard codes, names, severity, kind
    GET  /api/v1/vision/requests?sha256=            analysis state of a photo
    GET  /api/v1/vision/detections?status=          detections the caller may see
    POST /api/v1/vision/detections/<id>/confirm     {comment?}   supervisors
    POST /api/v1/vision/detections/<id>/dismiss     {comment?}   supervisors (kept as training data)
    GET  /api/v1/vision/export?status=dismissed     zip in YOLO format with the images
"""
from flask import Blueprint, Response, g, request
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from server.auth.decorators import require_auth
from server.errors import Invalid
from server.extensions import db
from server.http import load

from . import detectors, review, taxonomy
from .models import REVIEW, AnalysisRequest

bp = Blueprint("vision", __name__, url_prefix="/api/v1/vision")
REVIEWERS = ("supervisor", "admin")


class ReviewSchema(Schema):
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


def _status_arg():
    status = request.args.get("status") or None
    if status is not None and status not in REVIEW:
        raise Invalid(f"status 应为 {'、'.join(REVIEW)} 之一。")
    return status


@bp.get("/detectors")
@require_auth()
def list_detectors():
    return {"items": [d.to_dict() for d in detectors.active()]}


@bp.get("/taxonomy")
@require_auth()
def list_taxonomy():
    return {"items": [h.to_dict() for h in taxonomy.HAZARDS.values()]}


@bp.get("/requests")
@require_auth(*REVIEWERS)
def list_requests():
    sha = request.args.get("sha256", "")
    rows = db.session.scalars(select(AnalysisRequest).where(AnalysisRequest.sha256 == sha)
                              .order_by(AnalysisRequest.id)).all()
    return {"items": [r.to_dict() for r in rows]}


@bp.get("/detections")
@require_auth(*REVIEWERS)
def list_detections():
    return {"items": [review.detection_dict(d) for d in review.visible_detections(g.user, _status_arg())]}


@bp.post("/detections/<int:detection_id>/<any(confirm, dismiss):action>")
@require_auth(*REVIEWERS)
def review_detection(detection_id, action):
    body = load(ReviewSchema(), request.get_json(silent=True) or {}) if request.data else {"comment": None}
    return review.review(g.user, detection_id, action, body.get("comment"))


@bp.get("/export")
@require_auth(*REVIEWERS)
def export():
    status = _status_arg() or "dismissed"
    data, count = review.export_yolo(g.user, status)
    return Response(data, mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="vision-{status}.zip"', "X-Detections": str(count)})
