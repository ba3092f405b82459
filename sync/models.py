"""Tables of the sync engine.

``SyncRecord`` holds every synced record of every entity (one JSON document plus the
promoted, indexed columns of ``registry.PROMOTED``). ``SyncOp`` remembers the result of
every op by ``op_id`` (idempotency). ``SyncConflict`` keeps each value overwritten by a
merge so that a supervisor can see and restore it. ``SyncScopeExit`` remembers who could
see a record before it moved (reassigned, re-homed) so their next pull drops it.
``SyncCounter`` is the single row whose increment, taken at the very end of a write
transaction (only the records' own writes and the commit come after it), hands out pull
sequence numbers in commit order (see docs/sync-protocol.md).
"""
from server.clock import utcnow
from server.extensions import db


class SyncRecord(db.Model):
    """One synced record (any entity). ``id`` is the client-generated UUID."""
    __tablename__ = "sync_records"

    id = db.Column(db.String(36), primary_key=True)
    entity = db.Column(db.String(40), nullable=False, index=True)
    version = db.Column(db.Integer, nullable=False, default=1)
    deleted = db.Column(db.Boolean, nullable=False, default=False)
    data = db.Column(db.JSON, nullable=False)
    # Which version (and which device) last changed each field: {field: [version, device_id]}.
    # A push's base_version is compared with it to tell overlapping from disjoint edits.
    field_versions = db.Column(db.JSON, nullable=False)
    # Pull order: a number taken from SyncCounter at commit; unique, rising in commit order.
    seq = db.Column(db.BigInteger, nullable=False, unique=True)

    # Promoted columns (registry.PROMOTED), filled by EntityType.promote.
    jurisdiction_code = db.Column(db.String(12), index=True)
    status = db.Column(db.String(40), index=True)
    owner_id = db.Column(db.Integer, db.ForeignKey("users.id"), index=True)
    assignee_id = db.Column(db.Integer, db.ForeignKey("users.id"), index=True)
    enterprise_id = db.Column(db.String(36), index=True)
    level = db.Column(db.String(40), index=True)
    deadline = db.Column(db.DateTime, index=True)
    event_id = db.Column(db.String(36), index=True)
    occurred_at = db.Column(db.DateTime, index=True)
    title = db.Column(db.String(200))

    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    created_by_id = db.Column(db.Integer, db.ForeignKey("users.id"))
    updated_by_id = db.Column(db.Integer, db.ForeignKey("users.id"))
    updated_by_device = db.Column(db.String(64))

    def to_change(self):
        """The record as one entry of a pull's ``changes``."""
        return {"entity": self.entity, "id": self.id, "version": self.version, "deleted": self.deleted,
                "data": None if self.deleted else self.data}


class SyncOp(db.Model):
    """The stored result of one pushed op, keyed by its client-generated ``op_id``."""
    __tablename__ = "sync_ops"

    op_id = db.Column(db.String(64), primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, index=True)
    device_id = db.Column(db.String(64), nullable=False, index=True)
    entity = db.Column(db.String(40), nullable=False)
    record_id = db.Column(db.String(36), nullable=False, index=True)
    op = db.Column(db.String(10), nullable=False)
    status = db.Column(db.String(10), nullable=False)  # applied | conflict | rejected
    version = db.Column(db.Integer)
    errors = db.Column(db.JSON)
    # True when this op produced a new version of the record (a no-op edit does not).
    wrote = db.Column(db.Boolean, nullable=False, default=False)
    received_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    def result(self):
        return {"op_id": self.op_id, "status": self.status, "version": self.version, "errors": self.errors}


class SyncConflict(db.Model):
    """A value that a merge overwrote (or refused), kept so that nothing is lost silently.

    ``field`` is ``"*"`` when a whole document was lost: a stale delete removed edits made
    after the device's base version (``overwritten`` holds the document), or an edit arrived
    for a record already deleted (``overwritten`` holds the edit).
    """
    __tablename__ = "sync_conflicts"

    id = db.Column(db.Integer, primary_key=True)
    entity = db.Column(db.String(40), nullable=False)
    record_id = db.Column(db.String(36), nullable=False, index=True)
    field = db.Column(db.String(80), nullable=False)
    overwritten = db.Column(db.JSON)
    kept = db.Column(db.JSON)
    # Who lost: the writer whose value was overwritten, or whose edit was refused.
    rule = db.Column(db.String(40), nullable=False)  # later_edit_wins | workflow_server_wins | ...
    op_id = db.Column(db.String(64), index=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"))
    device_id = db.Column(db.String(64))
    base_version = db.Column(db.Integer)
    version = db.Column(db.Integer)
    jurisdiction_code = db.Column(db.String(12), index=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    restored_at = db.Column(db.DateTime)
    restored_by_id = db.Column(db.Integer, db.ForeignKey("users.id"))

    def to_dict(self):
        from server.clock import isoformat
        return {"id": self.id, "entity": self.entity, "record_id": self.record_id, "field": self.field,
                "overwritten": self.overwritten, "kept": self.kept, "rule": self.rule, "op_id": self.op_id,
                "user_id": self.user_id, "device_id": self.device_id, "base_version": self.base_version,
                "version": self.version, "created_at": isoformat(self.created_at),
                "restored_at": isoformat(self.restored_at), "restored_by_id": self.restored_by_id}


class SyncScopeExit(db.Model):
    """Who could see a record before a write moved it (the old scope columns).

    Written when jurisdiction_code, owner_id or assignee_id change; its ``seq`` is the
    moving write's. A user's pull emits a drop for the record when the old columns were
    visible to them and the record is not visible now.
    """
    __tablename__ = "sync_scope_exits"

    id = db.Column(db.Integer, primary_key=True)
    seq = db.Column(db.BigInteger, nullable=False, index=True)
    entity = db.Column(db.String(40), nullable=False)
    record_id = db.Column(db.String(36), nullable=False)
    jurisdiction_code = db.Column(db.String(12))
    owner_id = db.Column(db.Integer)
    assignee_id = db.Column(db.Integer)


class SyncCounter(db.Model):
    """One row; ``value`` is the last sequence number handed out."""
    __tablename__ = "sync_counter"

    id = db.Column(db.Integer, primary_key=True)
    value = db.Column(db.BigInteger, nullable=False)
