"""Supervisors confirm or dismiss detections; dismissals are kept and exported as YOLO data."""
import io
import json
import zipfile

from sqlalchemy import select

from server.clock import utcnow
from server.errors import Forbidden, NotFound
from server.extensions import db
from sync import scope
from sync.models import SyncRecord

from . import blobio, taxonomy
from .models import Detection, VisionSubject
from .pipeline import update_record

ACTIONS = {"confirm": "confirmed", "dismiss": "dismissed"}


def _records_of(sha256):
    return db.session.scalars(select(SyncRecord).join(
        VisionSubject, (VisionSubject.entity == SyncRecord.entity) & (VisionSubject.record_id == SyncRecord.id))
        .where(VisionSubject.sha256 == sha256, SyncRecord.deleted.is_(False))).all()


def review(user, detection_id, action, comment=None):
    """Confirm or dismiss one detection and refresh the records that show its photo."""
    det = db.session.get(Detection, detection_id)
    if det is None:
        raise NotFound("没有这条识别结果。")
    records = _records_of(det.sha256)
    if user.role != "admin" and not any(scope.can_see(user, r) for r in records):
        raise Forbidden("该识别结果所属的记录不在您的辖区内。")
    det.review, det.reviewed_by_id, det.reviewed_at = ACTIONS[action], user.id, utcnow()
    det.review_comment = comment
    db.session.commit()
    for r in records:
        update_record(r.entity, r.id)
    return detection_dict(det)


def detection_dict(det):
    hazard = taxonomy.get(det.hazard_code)
    return {"id": det.id, "photo": det.sha256, "detector": det.detector, "model_version": det.model_version,
            "label": det.label, "hazard_code": det.hazard_code, "name": hazard.name if hazard else det.hazard_code,
            "confidence": round(det.confidence, 3), "box": det.box, "image_size": [det.image_width, det.image_height],
            "review": det.review, "reviewed_by_id": det.reviewed_by_id,
            "reviewed_at": det.reviewed_at.isoformat() + "Z" if det.reviewed_at else None,
            "comment": det.review_comment}


def visible_detections(user, status=None):
    stmt = select(Detection).order_by(Detection.id)
    if status:
        stmt = stmt.where(Detection.review == status)
    if user is not None and user.role != "admin":
        visible = select(VisionSubject.sha256).join(SyncRecord, (VisionSubject.entity == SyncRecord.entity)
                                                    & (VisionSubject.record_id == SyncRecord.id)).where(
            scope.visible_clause(user))
        stmt = stmt.where(Detection.sha256.in_(visible))
    return db.session.scalars(stmt).all()


def export_yolo(user, status="dismissed"):
    """A zip in YOLO format: images/<sha>.jpg, labels/<sha>.txt, data.yaml, manifest.json.

    Class ids follow the taxonomy (``data.yaml`` names them by hazard code); each label line
    is ``class x_center y_center width height`` normalised to the image.
    """
    dets = visible_detections(user, status)
    names = list(taxonomy.HAZARDS)
    by_photo = {}
    for d in dets:
        by_photo.setdefault(d.sha256, []).append(d)
    buf = io.BytesIO()
    manifest = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for sha, group in sorted(by_photo.items()):
            data = blobio.read(sha)
            if data is None:
                continue
            z.writestr(f"images/{sha}.jpg", data)
            lines = []
            for d in group:
                w, h = d.image_width, d.image_height
                xc, yc = (d.x1 + d.x2) / 2 / w, (d.y1 + d.y2) / 2 / h
                bw, bh = (d.x2 - d.x1) / w, (d.y2 - d.y1) / h
                lines.append(f"{names.index(d.hazard_code)} {xc:.6f} {yc:.6f} {bw:.6f} {bh:.6f}")
                manifest.append(detection_dict(d))
            z.writestr(f"labels/{sha}.txt", "\n".join(lines) + "\n")
        yaml = "# Danbing vision export: detections with review status %s\npath: .\ntrain: images\nval: images\nnames:\n" % (status or "any")
        yaml += "".join(f"  {i}: {code}  # {taxonomy.HAZARDS[code].name}\n" for i, code in enumerate(names))
        z.writestr("data.yaml", yaml)
        z.writestr("manifest.json", json.dumps({"status": status, "detections": manifest}, ensure_ascii=False, indent=1))
    return buf.getvalue(), len(manifest)
