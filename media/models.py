"""Tables: stored blobs, which records refer to them, and tus uploads in progress.

``Blob`` is keyed by the SHA-256 of its bytes (content addressing): the same bytes are
stored once however often they are uploaded. Each blob keeps who uploaded it first, from
which device, and the server's own receipt time (执法全过程记录); what the device claims
(EXIF GPS, capture time) is kept apart, in ``meta``.
"""
from server.clock import isoformat, utcnow
from server.extensions import db

KINDS = ("photo", "voice", "derived", "file")


class Blob(db.Model):
    __tablename__ = "blobs"

    sha256 = db.Column(db.String(64), primary_key=True)
    size = db.Column(db.BigInteger, nullable=False)
    mime = db.Column(db.String(100), nullable=False)
    kind = db.Column(db.String(20), nullable=False)  # photo | voice | derived | file
    uploader_id = db.Column(db.Integer, db.ForeignKey("users.id"), index=True)
    device_id = db.Column(db.String(64))
    # Server receipt time (naive UTC); device clocks are data only, see ``meta``.
    received_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    # width, height, orientation, exif {gps {lat, lon, alt}, captured_at, make, model},
    # duration (voice), filename, variants {thumb|preview: {sha256, size, width, height}}
    meta = db.Column(db.JSON, nullable=False, default=dict)

    def to_dict(self):
        return {"sha256": self.sha256, "size": self.size, "mime": self.mime, "kind": self.kind,
                "uploader_id": self.uploader_id, "device_id": self.device_id,
                "received_at": isoformat(self.received_at), "meta": self.meta or {}}


class BlobRef(db.Model):
    """A synced record refers to a blob (filled by an ``after_apply`` hook).

    No foreign key to ``blobs``: a record may sync before its photo arrives ("photo pending").
    """
    __tablename__ = "blob_refs"

    sha256 = db.Column(db.String(64), primary_key=True)
    entity = db.Column(db.String(40), primary_key=True)
    record_id = db.Column(db.String(36), primary_key=True, index=True)
    field = db.Column(db.String(60), nullable=False)  # photos, items[2].evidence, ...


class Upload(db.Model):
    """A tus upload: its bytes so far lie in a part file under ``UPLOAD_TMP_DIR``."""
    __tablename__ = "uploads"

    id = db.Column(db.String(32), primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, index=True)
    device_id = db.Column(db.String(64))
    length = db.Column(db.BigInteger, nullable=False)
    # As last recorded (creation, cleanup, finish); while open, the part file's size is the offset.
    offset = db.Column(db.BigInteger, nullable=False, default=0)
    sha256 = db.Column(db.String(64), nullable=False, index=True)  # declared by the client
    kind = db.Column(db.String(20), nullable=False)
    filename = db.Column(db.String(255))
    filetype = db.Column(db.String(100))
    upload_metadata = db.Column(db.JSON, nullable=False, default=dict)
    state = db.Column(db.String(10), nullable=False, default="open", index=True)  # open | done
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    # At least this; a later chunk moves the real expiry on (part file mtime + UPLOAD_EXPIRES).
    expires_at = db.Column(db.DateTime, nullable=False, index=True)
    completed_at = db.Column(db.DateTime)
