"""Tables of the loops: the append-only audit log (执法全过程记录) and its per-case heads.

``AuditEntry`` rows of one case (``case_entity``, ``case_id``) are numbered 1, 2, 3, … and
each one's ``hash`` is sha256 over the canonical JSON of its content *and* the previous
entry's hash, so changing any entry breaks every later link and deleting one leaves a gap.
``AuditHead`` remembers how many entries a case has and the last hash (so deleting the
newest entry is caught too); its row is locked while appending, which keeps the chain a
line when two writers append at once.
"""
from server.extensions import db
from sync.models import SyncRecord


class AuditEntry(db.Model):
    __tablename__ = "audit_entries"
    __table_args__ = (db.UniqueConstraint("case_entity", "case_id", "seq", name="uq_audit_case_seq"),)

    id = db.Column(db.BigInteger().with_variant(db.Integer, "sqlite"), primary_key=True)
    case_entity = db.Column(db.String(40), nullable=False)
    case_id = db.Column(db.String(36), nullable=False)
    seq = db.Column(db.Integer, nullable=False)
    action = db.Column(db.String(60), nullable=False)
    actor_id = db.Column(db.Integer, db.ForeignKey("users.id"))
    device_id = db.Column(db.String(64))
    at = db.Column(db.DateTime, nullable=False)
    payload = db.Column(db.JSON, nullable=False)
    prev_hash = db.Column(db.String(64), nullable=False)
    hash = db.Column(db.String(64), nullable=False)

    def to_dict(self):
        from server.clock import isoformat
        return {"seq": self.seq, "action": self.action, "actor_id": self.actor_id, "device_id": self.device_id,
                "at": isoformat(self.at), "payload": self.payload, "prev_hash": self.prev_hash, "hash": self.hash}


class AuditHead(db.Model):
    __tablename__ = "audit_heads"

    case_entity = db.Column(db.String(40), primary_key=True)
    case_id = db.Column(db.String(36), primary_key=True)
    count = db.Column(db.Integer, nullable=False)
    last_hash = db.Column(db.String(64), nullable=False)


# The review queue's sorts and filters over sync_records (hazards and inspections).
# On PostgreSQL the review index also carries every column the queue filters or sorts on,
# so counting and choosing a page are index-only scans (the page's rows are read after).
db.Index("ix_sync_records_review", SyncRecord.entity, SyncRecord.status, SyncRecord.jurisdiction_code,
         SyncRecord.created_at,
         postgresql_include=["deadline", "level", "enterprise_id", "deleted", "updated_at", "id"])
