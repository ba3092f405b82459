"""Blobs: verify, inspect, store once, describe, authorize. Knows nothing of HTTP.

``store_bytes`` is the entry for server-made blobs (annotated images, PDFs);
``ingest_file`` is where a finished tus upload lands. Both verify the SHA-256, sniff the
real type, store the bytes once under their hash and create the ``Blob`` row if it is
new; ``blob_stored`` is sent after the commit that created the row.
"""
import hashlib
import logging

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from server.clock import utcnow
from server.errors import Invalid, NotFound
from server.extensions import db
from server.queue import job

from . import inspect
from .models import Blob, BlobRef, Upload
from .signals import blob_stored
from .storage import SHA256_RE, get_store

log = logging.getLogger(__name__)
_PENDING = "danbing_media_blob_stored"
VARIANTS = {"thumb": inspect.THUMB_SIZE, "preview": inspect.PREVIEW_SIZE}


def sha256_file(fileobj, bufsize=1024 * 1024):
    h = hashlib.sha256()
    fileobj.seek(0)
    while True:
        buf = fileobj.read(bufsize)
        if not buf:
            return h.hexdigest()
        h.update(buf)


def valid_sha256(value) -> bool:
    return isinstance(value, str) and bool(SHA256_RE.match(value))


# --------------------------------------------------------------------------- after commit
# ``blob_stored`` goes out only once the Blob row is committed. SQLAlchemy forbids SQL
# inside ``after_commit``, and a receiver will want to read the row, so the hook only
# marks the announcements ready; they are sent right after our own commits, by
# ``announce_stored()`` (for callers that committed themselves), and at the latest when
# the app context ends (end of request or job).
_READY = "danbing_media_blob_ready"


def _announce_later(sha256, kind, photo=False):
    session = db.session()
    session.info.setdefault(_PENDING, []).append((current_app._get_current_object(), sha256, kind, photo))


def _after_commit(session):
    pending = session.info.pop(_PENDING, None)
    if pending:
        session.info.setdefault(_READY, []).extend(pending)


def _after_rollback(session, previous=None):
    session.info.pop(_PENDING, None)


def announce_stored():
    """Send ``blob_stored`` for every blob committed since the last call."""
    session = db.session()
    ready = session.info.pop(_READY, None)
    for app, sha256, kind, photo in ready or ():
        if photo:
            _queue_variants(app, sha256)
        try:
            blob_stored.send(app, sha256=sha256, kind=kind)
        except Exception:  # a listener's failure must not undo a stored blob
            log.exception("blob_stored listener failed for %s", sha256)


def _queue_variants(app, sha256):
    from server.queue import enqueue_unique
    try:
        enqueue_unique("default", make_variants_job, f"media-variants-{sha256}", sha256, timeout=120, app=app)
    except Exception:  # Redis down: the variants are made on first request instead
        log.exception("could not queue variants of %s", sha256)


def _teardown(exc=None):
    try:
        announce_stored()
    except Exception:
        log.exception("could not announce stored blobs")


def connect_signals(app=None):
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_rollback)
    if app is not None:
        app.teardown_appcontext(_teardown)


# --------------------------------------------------------------------------- storing

def _describe(fileobj, mime):
    """What the bytes in ``fileobj`` of sniffed ``mime`` say about themselves."""
    if mime in inspect.PHOTO_MIMES:
        fileobj.seek(0)
        return inspect.inspect_photo(fileobj, current_app.config["MAX_IMAGE_PIXELS"])
    if mime in inspect.VOICE_MIMES:
        return {"duration": inspect.voice_duration(fileobj, mime)}
    return {}


def _store_variants(meta, variants):
    store = get_store()
    out = dict(meta.get("variants") or {})
    for name, v in variants.items():
        sha = hashlib.sha256(v["data"]).hexdigest()
        store.put_bytes(sha, v["data"])
        out[name] = {"sha256": sha, "size": len(v["data"]), "width": v["width"], "height": v["height"],
                     "mime": v["mime"]}
    if out:
        meta["variants"] = out
    return meta


def ingest_file(path, *, sha256, kind=None, user=None, device_id=None, filename=None, move=False,
                commit=True):
    """Store the file at ``path`` whose SHA-256 the caller has verified; returns
    ``(blob, created)``. ``kind`` None: photo or voice as the bytes say.

    Raises 415 (wrong type for ``kind``), 413 (decompression bomb).
    """
    existing = db.session.get(Blob, sha256)
    if existing is not None:
        # Same bytes again: no new storage, no new row, but heal a store that lost them.
        store = get_store()
        if not store.exists(sha256):
            store.put_file(sha256, path, move=move)
        return existing, False
    with open(path, "rb") as f:
        mime = inspect.sniff(f.read(64))
        if kind is None:
            kind = inspect.kind_of(mime)
            if kind is None:
                inspect.check_kind(mime, "photo")
        inspect.check_kind(mime, kind)
        meta = _describe(f, mime)
    if filename:
        meta["filename"] = filename[:255]
    size = _size(path)
    get_store().put_file(sha256, path, move=move)
    return _add_blob(sha256, size=size, mime=mime, kind=kind, user=user, device_id=device_id,
                     meta=meta, commit=commit), True


def _size(path):
    import os
    return os.stat(path).st_size


def _add_blob(sha256, *, size, mime, kind, user, device_id, meta, commit):
    blob = Blob(sha256=sha256, size=size, mime=mime, kind=kind,
                uploader_id=getattr(user, "id", user), device_id=device_id,
                received_at=utcnow(), meta=meta)
    db.session.add(blob)
    _announce_later(sha256, kind, mime in inspect.PHOTO_MIMES)
    if commit:
        try:
            db.session.commit()
        except Exception:
            # Two uploads of the same bytes finished together: the other row won.
            db.session.rollback()
            blob = db.session.get(Blob, sha256)
            if blob is None:
                raise
        announce_stored()
    return blob


def store_bytes(data: bytes, *, kind, user=None, device_id=None, mime=None, meta=None, commit=True):
    """Store server-made bytes (annotated image, PDF, ...) and return their ``Blob``.

    Idempotent: the same bytes return the existing row. ``mime`` None: sniffed from the
    bytes. ``commit=False`` leaves the commit to the caller (the signal waits for it).
    """
    import io
    sha = hashlib.sha256(data).hexdigest()
    existing = db.session.get(Blob, sha)
    if existing is not None:
        get_store().put_file(sha, io.BytesIO(data))  # no-op when present
        return existing
    sniffed = inspect.sniff(data[:64])
    if kind in ("photo", "voice"):
        inspect.check_kind(sniffed, kind)
    described = _describe(io.BytesIO(data), sniffed)
    described.update(meta or {})
    get_store().put_file(sha, io.BytesIO(data))
    return _add_blob(sha, size=len(data), mime=mime or sniffed or "application/octet-stream", kind=kind,
                     user=user, device_id=device_id, meta=described, commit=commit)


def get_blob(sha256):
    if not valid_sha256(sha256):
        raise Invalid("文件标识应为 64 位小写十六进制 SHA-256。")
    blob = db.session.get(Blob, sha256)
    if blob is None:
        raise NotFound("没有这个文件（可能仍在上传中）。", pending=True)
    return blob


def variant(blob, name):
    """The stored variant ``name`` (thumb | preview) of a photo: its meta dict, made on
    first use and remembered in ``blob.meta``. Raises 404 for non-images."""
    if name not in VARIANTS:
        raise Invalid("variant 只能是 thumb 或 preview。")
    if blob.mime not in inspect.PHOTO_MIMES:
        raise NotFound("该文件不是照片，没有缩略图或预览图。")
    known = (blob.meta or {}).get("variants", {}).get(name)
    store = get_store()
    if known and store.exists(known["sha256"]):
        return known
    with store.open(blob.sha256) as f:
        v = inspect.render_variant(f, VARIANTS[name], current_app.config["MAX_IMAGE_PIXELS"])
    meta = _store_variants(dict(blob.meta or {}), {name: v})
    blob.meta = meta
    db.session.commit()
    return meta["variants"][name]


def make_variants(sha256):
    """Make every variant of a stored photo now (the background job's work)."""
    blob = db.session.get(Blob, sha256)
    if blob is None or blob.mime not in inspect.PHOTO_MIMES:
        return []
    done = []
    for name in VARIANTS:
        try:
            variant(blob, name)
            done.append(name)
        except Exception:  # a corrupt photo: the GET answers 415 when asked
            db.session.rollback()
            log.exception("variant %s of %s failed", name, sha256)
            break
    return done


@job
def make_variants_job(sha256):
    return make_variants(sha256)


# --------------------------------------------------------------------------- references

REF_LIST_FIELDS = ("photos", "after_photos", "voice_notes", "evidence")
REF_SINGLE_FIELDS = ("annotated_image",)


def refs_in(data):
    """[(sha256, field)] of the blobs a record's data refers to, in order, without repeats."""
    out, seen = [], set()

    def add(value, field):
        if valid_sha256(value) and value not in seen:
            seen.add(value)
            out.append((value, field))

    if not isinstance(data, dict):
        return out
    for f in REF_LIST_FIELDS:
        values = data.get(f)
        if isinstance(values, list):
            for v in values:
                add(v, f)
    for f in REF_SINGLE_FIELDS:
        add(data.get(f), f)
    items = data.get("items")
    if isinstance(items, list):
        for i, item in enumerate(items):
            if isinstance(item, dict) and isinstance(item.get("evidence"), list):
                for v in item["evidence"]:
                    add(v, f"items[{i}].evidence")
    findings = data.get("findings")
    if isinstance(findings, list):
        for i, item in enumerate(findings):
            if isinstance(item, dict) and isinstance(item.get("evidence"), list):
                for v in item["evidence"]:
                    add(v, f"findings[{i}].evidence")
    return out


def index_refs(applied):
    """``sync.registry.after_apply_many`` hook: keep ``BlobRef`` equal to what each written
    record refers to (the batch's current references read in one query)."""
    wanted = {}
    for _et, record, ctx in applied:
        refs = {} if record.deleted else {sha: f for sha, f in refs_in(record.data)}
        if not refs and ctx is not None and ctx.op == "upsert" and ctx.old is None:
            continue  # a new record without media: nothing to index, no query
        wanted[(record.entity, record.id)] = refs  # a record written twice: its last state
    if not wanted:
        return
    current = {key: {} for key in wanted}
    ids = sorted({rid for _, rid in wanted})
    for k in range(0, len(ids), 500):
        for row in db.session.scalars(select(BlobRef).where(BlobRef.record_id.in_(ids[k:k + 500]))):
            if (row.entity, row.record_id) in current:
                current[(row.entity, row.record_id)][row.sha256] = row
    for (entity, record_id), refs in wanted.items():
        have = current[(entity, record_id)]
        for sha, row in have.items():
            if sha not in refs:
                db.session.delete(row)
            elif row.field != refs[sha]:
                row.field = refs[sha]
        for sha, f in refs.items():
            if sha not in have:
                db.session.add(BlobRef(sha256=sha, entity=entity, record_id=record_id, field=f))


# --------------------------------------------------------------------------- signed URLs

def _signature(sha256, variant, exp):
    import hmac
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"blob|{sha256}|{variant or ''}|{exp}".encode(), hashlib.sha256).hexdigest()[:32]


def signed_url(sha256, variant=None, ttl=None):
    """A URL that fetches the blob (or its variant) without an Authorization header, for
    ``<img src>``; valid ``BLOB_URL_TTL`` seconds. Hand it only to users who may see it."""
    import time
    exp = int(time.time()) + (ttl or current_app.config["BLOB_URL_TTL"])
    q = f"variant={variant}&" if variant else ""
    return f"/api/v1/blobs/{sha256}?{q}exp={exp}&sig={_signature(sha256, variant, exp)}"


def signature_ok(sha256, variant, exp, sig) -> bool:
    import hmac
    import time
    return (isinstance(exp, str) and exp.isdigit() and int(exp) >= time.time()
            and hmac.compare_digest(str(sig), _signature(sha256, variant, exp)))


def signed_urls(blob):
    urls = {"original": signed_url(blob.sha256)}
    if blob.mime in inspect.PHOTO_MIMES:
        urls.update(thumb=signed_url(blob.sha256, "thumb"), preview=signed_url(blob.sha256, "preview"))
    return urls


# --------------------------------------------------------------------------- who may fetch

def can_access(user, sha256) -> bool:
    """The uploader, anyone who sent these bytes, or a user who may see a record that
    refers to the blob."""
    from sync.models import SyncRecord
    from sync.scope import can_see
    if user is None:
        return False
    blob = db.session.get(Blob, sha256)
    if blob is not None and blob.uploader_id == user.id:
        return True
    if db.session.scalar(select(Upload.id).where(Upload.sha256 == sha256, Upload.user_id == user.id,
                                                 Upload.state == "done").limit(1)):
        return True
    refs = db.session.execute(select(BlobRef.entity, BlobRef.record_id).where(BlobRef.sha256 == sha256)).all()
    for entity, record_id in refs:
        rec = db.session.get(SyncRecord, record_id)
        if rec is not None and rec.entity == entity and can_see(user, rec):
            return True
    return False


def status(hashes):
    """{sha256: "present" | "pending"} for the given hashes (invalid ones are left out)."""
    wanted = sorted({h for h in hashes if valid_sha256(h)})
    present = set(db.session.scalars(select(Blob.sha256).where(Blob.sha256.in_(wanted)))) if wanted else set()
    return {h: ("present" if h in present else "pending") for h in wanted}


def record_blobs(entity, record_id):
    """[(sha256, field)] a stored record refers to now."""
    from sync.models import SyncRecord
    rec = db.session.get(SyncRecord, str(record_id))
    if rec is None or rec.entity != entity:
        raise NotFound("没有这条记录。")
    return rec, refs_in(rec.data)
