"""From a photo to findings on its records: requests, the RQ job, results, the sweeper.

A photo gets one ``AnalysisRequest`` per active detector (and model version) the moment it
arrives or a hazard/inspection refers to it; the row is committed before anything is
queued, so nothing is lost when Redis or a worker is down: ``sweep`` queues whatever is
left. One RQ job per photo (job id: photo + the detectors' versions) runs every pending
detector on the decoded image; each detector's boxes and the request's ``done`` state are
committed together and only once. Then every record showing the photo gets
``detections``, ``suggested_findings``, ``annotated_image`` and ``vision`` (state and
reason) through ``sync.engine.server_write``, so the change syncs to the devices.
"""
import hashlib
import io
import logging
import re
import time
from datetime import timedelta

from flask import current_app
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.clock import utcnow
from server.extensions import db
from server.queue import enqueue_unique, get_queue, get_redis, job

from . import annotate, blobio, detectors, inference, taxonomy
from .models import AnalysisRequest, Detection, VisionSubject

log = logging.getLogger(__name__)
SHA = re.compile(r"^[0-9a-f]{64}$")
ENTITIES = ("hazard", "inspection")
QUEUE = "vision"
ACTIVE_STATES = ("pending", "running")


class BadImage(Exception):
    """The blob is not an image we can decode; the reason is for people (Chinese)."""


# ------------------------------------------------------------------ which photos a record shows

def photo_shas(entity, data):
    """The photo blob ids of a record, in order, without repeats."""
    data = data or {}
    found = list(data.get("photos") or [])
    if entity == "inspection":
        for item in data.get("items") or []:
            if isinstance(item, dict):
                found += item.get("evidence") or []
        for finding in data.get("findings") or []:
            if isinstance(finding, dict):
                found += finding.get("evidence") or []
    out = []
    for sha in found:
        if isinstance(sha, str) and SHA.match(sha) and sha not in out:
            out.append(sha)
    return out


# ------------------------------------------------------------------ requests and queueing

def _insert_ignore(model, rows, session=None):
    if not rows:
        return
    session = session or db.session
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(model).values(rows).on_conflict_do_nothing())


def ensure_requests(shas, session=None):
    """One pending request per photo and active detector version, unless one exists (no commit)."""
    now = utcnow()
    rows = [{"sha256": sha, "detector": d.name, "model_version": d.version, "state": "pending",
             "attempts": 0, "created_at": now} for sha in shas for d in detectors.active()]
    _insert_ignore(AnalysisRequest, rows, session)


def link_subject(entity, record_id, shas):
    now = utcnow()
    _insert_ignore(VisionSubject, [{"sha256": s, "entity": entity, "record_id": record_id, "created_at": now}
                                   for s in shas])


def pipeline_version():
    versions = ",".join(sorted(f"{d.name}={d.version}" for d in detectors.active()))
    return hashlib.sha256(versions.encode()).hexdigest()[:12]


def job_id_for(sha256):
    return f"vision-{sha256}-{pipeline_version()}"


def enqueue(sha256):
    """Queue the analysis of one photo (once: a waiting or running job is not duplicated)."""
    cfg = current_app.config
    return enqueue_unique(QUEUE, analyse_photo, job_id_for(sha256), sha256,
                          timeout=cfg["VISION_JOB_TIMEOUT"], retries=max(0, cfg["VISION_MAX_ATTEMPTS"] - 1))


def try_enqueue(shas):
    """Queue what can be queued; a Redis outage is logged, the sweeper catches up later."""
    queued = 0
    for sha in shas:
        try:
            enqueue(sha)
            queued += 1
        except Exception as e:  # redis.exceptions.ConnectionError and friends
            log.warning("vision: could not queue %s (%s); the sweeper will", sha[:12], e)
    return queued


# ------------------------------------------------------------------ the job

@job
def analyse_photo(sha256):
    return run(sha256)


def decode(data):
    """A PIL RGB image of ``data`` (EXIF orientation applied) or BadImage with a clear reason."""
    try:
        probe = Image.open(io.BytesIO(data))
        probe.verify()
        image = Image.open(io.BytesIO(data))
        image = ImageOps.exif_transpose(image)
        image = image.convert("RGB")
    except UnidentifiedImageError:
        raise BadImage("文件不是可识别的图片格式（可能不是照片或已损坏），无法进行图像识别") from None
    except Image.DecompressionBombError:
        raise BadImage("图片像素过多，拒绝解码") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise BadImage(f"图片已损坏，无法解码（{e}）") from None
    if min(image.size) < 32:
        raise BadImage(f"图片太小（{image.width}×{image.height}），无法识别")
    return image


def _describe(exc):
    from rq.timeouts import JobTimeoutException
    if isinstance(exc, JobTimeoutException):
        return f"分析超时（超过 {current_app.config['VISION_JOB_TIMEOUT']} 秒）"
    return f"分析出错：{type(exc).__name__}: {str(exc)[:200]}"


def _open_requests(sha256):
    active = {(d.name, d.version): d for d in detectors.active()}
    reqs = db.session.scalars(select(AnalysisRequest).where(
        AnalysisRequest.sha256 == sha256, AnalysisRequest.state.in_(ACTIVE_STATES))
        .order_by(AnalysisRequest.id)).all()
    return [(r, active[(r.detector, r.model_version)]) for r in reqs if (r.detector, r.model_version) in active]


def run(sha256):
    """Analyse one photo with every detector still pending on it; returns a small summary."""
    cfg = current_app.config
    max_attempts = cfg["VISION_MAX_ATTEMPTS"]
    work = _open_requests(sha256)
    if not work:
        finalize(sha256)
        return {"sha256": sha256, "analysed": 0}
    data = blobio.read(sha256)
    if data is None:
        for r, _ in work:
            r.state, r.reason = "pending", "照片尚未上传到服务器，收到后自动分析"
        db.session.commit()
        return {"sha256": sha256, "analysed": 0, "waiting": True}
    now = utcnow()
    for r, _ in work:
        if r.attempts >= max_attempts:
            r.state, r.finished_at = "failed", now
            r.reason = r.reason or f"分析多次中断或超时（已尝试 {r.attempts} 次）"
        else:
            r.state, r.attempts, r.started_at, r.reason = "running", r.attempts + 1, now, None
    db.session.commit()
    work = [(r, d) for r, d in work if r.state == "running"]
    try:
        image = decode(data)
    except BadImage as e:
        for r, _ in work:
            r.state, r.reason, r.finished_at = "failed", str(e), utcnow()
        db.session.commit()
        finalize(sha256)
        return {"sha256": sha256, "analysed": 0, "failed": str(e)}
    device = cfg["VISION_DEVICE"]
    alerts = set()
    try:
        inference.set_threads(cfg["VISION_THREADS"])
        pixels = inference.to_bgr(image)
        for r, d in work:
            started = time.monotonic()
            found = inference.detect(d, pixels, device)
            if _store_result(r.id, found, image.size, time.monotonic() - started):
                alerts |= {f["hazard_code"] for f in found if taxonomy.get(f["hazard_code"]).severity == "high"}
    except Exception as e:
        db.session.rollback()
        reason, retry = _describe(e), False
        for r, _ in work:
            db.session.refresh(r)
            if r.state != "running":
                continue
            if r.attempts >= max_attempts:
                r.state, r.finished_at, r.reason = "failed", utcnow(), f"已尝试 {r.attempts} 次仍失败：{reason}"
            else:
                r.state, r.reason, retry = "pending", reason, True
        db.session.commit()
        log.exception("vision: analysis of %s failed", sha256[:12])
        finalize(sha256, image=image, alerts=alerts)
        if retry:
            raise  # RQ retries the job (bounded by VISION_MAX_ATTEMPTS)
        return {"sha256": sha256, "failed": reason}
    finalize(sha256, image=image, alerts=alerts)
    return {"sha256": sha256, "analysed": len(work)}


def _store_result(request_id, found, size, seconds):
    """Store one detector's boxes and mark its request done, in one transaction, only once."""
    req = db.session.scalars(select(AnalysisRequest).where(AnalysisRequest.id == request_id)
                             .with_for_update().execution_options(populate_existing=True)).one()
    if req.state in ("done", "failed"):
        db.session.rollback()
        return False
    for i, f in enumerate(found):
        x1, y1, x2, y2 = f["box"]
        db.session.add(Detection(request_id=req.id, index=i, sha256=req.sha256, detector=req.detector,
                                 model_version=req.model_version, label=f["label"], hazard_code=f["hazard_code"],
                                 confidence=f["confidence"], x1=x1, y1=y1, x2=x2, y2=y2,
                                 image_width=size[0], image_height=size[1]))
    req.state, req.finished_at, req.seconds, req.reason = "done", utcnow(), round(seconds, 3), None
    try:
        db.session.commit()
    except IntegrityError:  # another worker stored the same result first
        db.session.rollback()
        return False
    return True


# ------------------------------------------------------------------ results onto records

def finalize(sha256, image=None, alerts=()):
    """Refresh every record that shows ``sha256``."""
    from sync.registry import Rejected
    subjects = [(s.entity, s.record_id) for s in db.session.scalars(
        select(VisionSubject).where(VisionSubject.sha256 == sha256))]
    for entity, record_id in subjects:
        try:
            update_record(entity, record_id, images={sha256: image} if image is not None else None, alerts=alerts)
        except Rejected as e:  # the record's rules refuse the write: the results stay in vision's tables
            db.session.rollback()
            log.warning("vision: %s %s refused the results: %s", entity, record_id, e.errors)


@job
def refresh_record(entity, record_id):
    """Rewrite the vision fields of one record (its photos changed)."""
    from sync.registry import Rejected
    try:
        return update_record(entity, record_id)
    except Rejected as e:
        db.session.rollback()
        log.warning("vision: %s %s refused the results: %s", entity, record_id, e.errors)
        return False


def _detection_dict(det):
    hazard = taxonomy.get(det.hazard_code)
    return {"id": det.id, "photo": det.sha256, "detector": det.detector, "model_version": det.model_version,
            "label": det.label, "hazard_code": det.hazard_code, "name": hazard.name, "kind": hazard.kind,
            "severity": hazard.severity, "confidence": round(det.confidence, 3), "box": det.box,
            "image_size": [det.image_width, det.image_height], "review": det.review}


def _findings(dets):
    by_code = {}
    for d in dets:
        if d["review"] == "dismissed" or d["kind"] == "observation":
            continue
        by_code.setdefault(d["hazard_code"], []).append(d)
    out = []
    for code, group in by_code.items():
        hazard = taxonomy.get(code)
        refs = taxonomy.clauses(code)
        photos = []
        for d in group:
            if d["photo"] not in photos:
                photos.append(d["photo"])
        best = max(d["confidence"] for d in group)
        out.append({
            "id": f"vision-{code}", "source": "vision", "hazard_code": code, "name": hazard.name,
            "kind": hazard.kind, "severity": hazard.severity,
            "description": f"图像识别发现{hazard.name}（{len(group)} 处，最高置信度 {best:.2f}），需人工核实。{hazard.advice}。",
            "evidence": photos, "violated": refs["violated"], "penalty": refs["penalty"],
            "clauses": refs["violated"] + refs["penalty"], "confidence": best,
            "detection_ids": [d["id"] for d in group],
            "confirmed": any(d["review"] == "confirmed" for d in group)})
    out.sort(key=lambda f: (["high", "medium", "low"].index(f["severity"]), f["hazard_code"]))
    return out


def _status(reqs, shas, active):
    have = {(r.sha256, r.detector, r.model_version) for r in reqs}
    missing = any((s, d.name, d.version) not in have for s in shas for d in active)
    failed = [r for r in reqs if r.state == "failed"]
    if missing or any(r.state in ACTIVE_STATES for r in reqs):
        state = "pending"
    elif failed:
        state = "failed"
    else:
        state = "done"
    reasons = []
    for r in failed:
        text = f"{r.detector}：{r.reason}" if r.reason else r.detector
        if text not in reasons:
            reasons.append(text)
    out = {"state": state}
    if reasons:
        out["reason"] = "；".join(reasons)[:1000]
    return out


def record_fields(entity, data, images=None):
    """What vision writes onto a record: detections, suggested_findings, vision, annotated_image."""
    shas = photo_shas(entity, data)
    active = detectors.active()
    versions = {(d.name, d.version) for d in active}
    order = {d.name: i for i, d in enumerate(active)}
    reqs = [r for r in db.session.scalars(select(AnalysisRequest).where(AnalysisRequest.sha256.in_(shas)))
            if (r.detector, r.model_version) in versions] if shas else []
    done_ids = [r.id for r in reqs if r.state == "done"]
    rows = db.session.scalars(select(Detection).where(Detection.request_id.in_(done_ids))).all() if done_ids else []
    rows.sort(key=lambda d: (shas.index(d.sha256), order[d.detector], d.index))
    dets = [_detection_dict(d) for d in rows]
    status = _status(reqs, shas, active)
    changes = {"detections": dets, "suggested_findings": _findings(dets)}
    # The annotated evidence image: the first photo with boxes, drawn with all of its boxes
    # but the ones a supervisor dismissed (a 误报 must not stand in the evidence).
    shown = [d for d in dets if d["review"] != "dismissed"]
    first = next((s for s in shas if any(d["photo"] == s for d in shown)), None)
    previous = (data or {}).get("vision") or {}
    if first is not None:
        boxes = [d for d in shown if d["photo"] == first]
        key = hashlib.sha256(repr([(d["id"], d["box"], d["confidence"]) for d in boxes]).encode()).hexdigest()[:16]
        if previous.get("annotated_key") == key and data.get("annotated_image"):
            changes["annotated_image"] = data["annotated_image"]
        else:
            image = (images or {}).get(first)
            if image is None:
                raw = blobio.read(first)
                image = decode(raw) if raw is not None else None
            if image is not None:
                jpeg = annotate.render(image, boxes, current_app.config["VISION_FONT"])
                changes["annotated_image"] = blobio.store(jpeg, kind="derived", mime="image/jpeg")
        if "annotated_image" in changes:
            status["annotated_key"] = key
            status["annotated_photo"] = first
    elif data.get("annotated_image") and previous:
        changes["annotated_image"] = None
    changes["vision"] = status
    return changes


def update_record(entity, record_id, images=None, alerts=()):
    """Write the vision fields onto one record (a server write: version bump, syncs to devices)."""
    from sync import engine
    from sync.models import SyncRecord
    rec = db.session.get(SyncRecord, record_id)
    if rec is None or rec.deleted or rec.entity != entity:
        return False
    changes = record_fields(entity, rec.data, images)
    changes = {k: v for k, v in changes.items() if rec.data.get(k) != v}
    if not changes:
        return False
    engine.server_write(None, entity, record_id, changes, commit=False)
    new_codes = sorted({d["hazard_code"] for d in changes.get("detections", []) if d["hazard_code"] in set(alerts)})
    if new_codes:
        _notify_supervisors(entity, rec, new_codes)
    db.session.commit()
    return True


def _notify_supervisors(entity, rec, codes):
    try:
        from push.delivery import message
        from push.triggers import notify_after_commit
    except ImportError:
        return
    from server.models import User
    from server.models.jurisdiction import PREFIX_LEN
    code = rec.jurisdiction_code
    if not code:
        return
    ancestors = {code[:n].ljust(12, "0") for n in PREFIX_LEN.values()}
    users = db.session.scalars(select(User.id).where(User.role == "supervisor", User.active.is_(True),
                                                     User.jurisdiction_code.in_(ancestors))).all()
    if not users:
        return
    names = "、".join(taxonomy.get(c).name for c in codes)
    title = rec.data.get("title") or rec.title or ""
    notify_after_commit(users, message("detection", f"图像识别发现：{names}", f"{title}（待核实）",
                                       f"/#/{entity}/{rec.id}", severity="high", tag=f"vision-{rec.id}"))


# ------------------------------------------------------------------ the sweeper

def sweep(now=None, backfill=False):
    """Re-queue what is left: pending requests (Redis was down), running requests whose worker
    died (stale), photos of records without requests for the active detectors (``backfill``).
    Requests that used up their attempts are failed with the reason on their records."""
    cfg = current_app.config
    now = now or utcnow()
    max_attempts = cfg["VISION_MAX_ATTEMPTS"]
    stale_before = now - timedelta(seconds=cfg["VISION_STALE_AFTER"])
    counts = {"stale": 0, "failed": 0, "queued": 0, "not_queued": 0, "backfilled": 0}
    to_finalize = set()
    stale = db.session.scalars(select(AnalysisRequest).where(
        AnalysisRequest.state == "running", AnalysisRequest.started_at < stale_before)).all()
    for r in stale:
        counts["stale"] += 1
        if r.attempts >= max_attempts:
            r.state, r.finished_at = "failed", now
            r.reason = f"分析进程中断或超时，已尝试 {r.attempts} 次"
            counts["failed"] += 1
            to_finalize.add(r.sha256)
        else:
            r.state, r.reason = "pending", "分析进程中断，已重新排队"
    db.session.commit()
    for sha in {r.sha256 for r in stale if r.state == "pending"}:
        _drop_job(sha)
    # Photos that arrived while the database write of their requests failed, and with
    # ``backfill`` every photo of a record not yet seen by each active detector.
    from media.models import Blob
    unseen = select(Blob.sha256).where(Blob.kind == "photo", ~select(AnalysisRequest.id).where(
        AnalysisRequest.sha256 == Blob.sha256).exists())
    shas = set(db.session.scalars(unseen))
    if backfill:
        shas |= set(db.session.scalars(select(VisionSubject.sha256).distinct()))
    if shas:
        before = db.session.query(AnalysisRequest).count()
        ensure_requests(sorted(shas))
        db.session.commit()
        counts["backfilled"] = db.session.query(AnalysisRequest).count() - before
    pending = sorted(set(db.session.scalars(select(AnalysisRequest.sha256).where(
        AnalysisRequest.state == "pending", AnalysisRequest.reason.is_distinct_from(
            "照片尚未上传到服务器，收到后自动分析")))) | _uploaded_waiting())
    queued = try_enqueue(pending)
    counts["queued"], counts["not_queued"] = queued, len(pending) - queued
    for sha in to_finalize:
        finalize(sha)
    return counts


def _uploaded_waiting():
    """Photos whose requests wait for an upload that has since arrived."""
    shas = db.session.scalars(select(AnalysisRequest.sha256).where(
        AnalysisRequest.state == "pending", AnalysisRequest.reason == "照片尚未上传到服务器，收到后自动分析").distinct()).all()
    return {s for s in shas if blobio.read(s) is not None}


def _drop_job(sha256):
    """Forget the Redis job of a worker that died, so the photo can be queued again."""
    try:
        from rq.exceptions import NoSuchJobError
        from rq.job import Job
        try:
            Job.fetch(job_id_for(sha256), connection=get_redis()).delete()
        except NoSuchJobError:
            pass
    except Exception as e:
        log.warning("vision: could not drop stale job of %s: %s", sha256[:12], e)


# ------------------------------------------------------------------ triggers

_PENDING = "danbing_vision_pending"


def on_blob_stored(sender, sha256=None, kind=None, **extra):
    """media.signals.blob_stored: a new photo is analysed.

    Sent from the committing session's ``after_commit``, where that session may not run SQL:
    the requests are recorded through a session of their own, then the job is queued."""
    if kind != "photo" or not sha256 or not current_app.config.get("VISION_ENABLED", True):
        return
    from sqlalchemy.orm import Session
    try:
        with Session(db.engine) as session:
            ensure_requests([sha256], session)
            session.commit()
    except Exception:
        log.exception("vision: could not record analysis of %s (the sweeper will)", sha256[:12])
    try_enqueue([sha256])


def on_applied(entity_type, rec, ctx):
    """sync after_apply: a hazard or inspection that shows photos (inside its transaction)."""
    if entity_type.name not in ENTITIES or ctx.op != "upsert" or ctx.new is None:
        return
    if not current_app.config.get("VISION_ENABLED", True):
        return
    if ctx.old is not None and not {"photos", "items", "findings"} & set(ctx.changed):
        return
    shas = photo_shas(entity_type.name, ctx.new)
    old = photo_shas(entity_type.name, ctx.old) if ctx.old else []
    new = [s for s in shas if s not in old]
    if new:
        link_subject(entity_type.name, rec.id, new)
        ensure_requests(new)
        db.session.info.setdefault(_PENDING, set()).update(new)
    elif set(old) - set(shas) and (ctx.old or {}).get("vision"):
        # A photo was taken off the record: its detections must go too.
        db.session.info.setdefault(_REFRESH, set()).add((entity_type.name, rec.id))


_REFRESH = "danbing_vision_refresh"


def _after_commit(session):
    shas = session.info.pop(_PENDING, None)
    if shas:
        try_enqueue(sorted(shas))
    for entity, record_id in sorted(session.info.pop(_REFRESH, None) or ()):
        try:
            get_queue(QUEUE).enqueue(refresh_record, entity, record_id, job_timeout=120)
        except Exception as e:
            log.warning("vision: could not queue refresh of %s %s: %s", entity, record_id, e)


def _after_rollback(session, previous=None):
    session.info.pop(_PENDING, None)
    session.info.pop(_REFRESH, None)
