"""Evidence integrity (执法全过程记录): re-hash every blob a record refers to and compare
with the hash it is stored under. Usable without HTTP (jobs, CLI, document issuing)."""
import hashlib

from sqlalchemy import select

from server.clock import isoformat
from server.extensions import db

from . import blobs
from .models import Blob, Upload
from .storage import BlobMissing, get_store

OK, MISMATCH, MISSING, PENDING = "ok", "mismatch", "missing", "pending"


def rehash(sha256):
    """(status, actual hash or None) of the stored bytes of ``sha256``."""
    h = hashlib.sha256()
    try:
        with get_store().open(sha256) as f:
            while True:
                buf = f.read(1024 * 1024)
                if not buf:
                    break
                h.update(buf)
    except BlobMissing:
        return MISSING, None
    actual = h.hexdigest()
    return (OK if actual == sha256 else MISMATCH), actual


def receipts(sha256):
    """Every completed upload of these bytes: who sent them, from which phone, when."""
    rows = db.session.scalars(select(Upload).where(Upload.sha256 == sha256, Upload.state == "done")
                              .order_by(Upload.completed_at))
    return [{"user_id": u.user_id, "device_id": u.device_id, "completed_at": isoformat(u.completed_at)}
            for u in rows]


def verify(entity, record_id):
    """A report on every blob record ``entity``/``record_id`` refers to.

    ``pending``: the record names a blob never received; ``missing``: received once, bytes
    gone from the store; ``mismatch``: bytes changed since receipt. ``ok`` is true only when
    every blob is ``ok``.
    """
    rec, refs = blobs.record_blobs(entity, record_id)
    items = []
    for sha, field in refs:
        blob = db.session.get(Blob, sha)
        item = {"sha256": sha, "field": field}
        if blob is None:
            item["status"] = PENDING
        else:
            item["status"], actual = rehash(sha)
            if item["status"] == MISMATCH:
                item["actual_sha256"] = actual
            item.update(size=blob.size, mime=blob.mime, kind=blob.kind, uploader_id=blob.uploader_id,
                        device_id=blob.device_id, received_at=isoformat(blob.received_at),
                        receipts=receipts(sha))
        items.append(item)
    return {"entity": entity, "id": rec.id, "version": rec.version,
            "ok": all(i["status"] == OK for i in items), "blobs": items,
            "counts": {s: sum(1 for i in items if i["status"] == s) for s in (OK, MISMATCH, MISSING, PENDING)}}
