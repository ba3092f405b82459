"""The sync engine: idempotent push, gap-free pull, field merges with conflict records.

Knows nothing of HTTP. ``push`` and ``pull`` serve devices; ``server_write`` serves the
server's own changes and supervisors' actions through the other APIs; ``get_record`` reads.

How the guarantees hold (docs/sync-protocol.md says it at length):

* One push batch is one transaction. Existing records are read and row-locked in one
  query (sorted by id, so two batches never lock in opposite orders), op ids are looked up
  in one query after the locks are held, every op is decided in memory, and the writes go
  out in a few bulk statements. A concurrent batch that created the same record or op
  first makes ours fail on a unique key; the whole batch is then retried and its ops come
  back as ``duplicate``.
* Sequence numbers for pull come from one counter row, incremented after every op is
  decided and the after_apply hooks' work is flushed, just before the records are written
  and the transaction commits. Its row lock is held until commit, so the next writer gets
  its numbers only after this one has committed: sequence order is commit order, and a
  reader that has seen number N can never later find a committed change below N.
"""
import logging
from dataclasses import dataclass, field
from datetime import datetime

from marshmallow import ValidationError, fields
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from server.clock import utcnow
from server.errors import BadRequest, Unavailable
from server.extensions import db
from server.models.jurisdiction import covers

from . import registry, scope
from .models import SyncConflict, SyncCounter, SyncOp, SyncRecord, SyncScopeExit

log = logging.getLogger(__name__)

UPSERT, DELETE = "upsert", "delete"
APPLIED, DUPLICATE, CONFLICT, REJECTED = "applied", "duplicate", "conflict", "rejected"
# Roles that may delete records they do not own (within their scope).
DELETE_ROLES = frozenset({"supervisor", "admin"})
SCOPE_COLUMNS = ("jurisdiction_code", "owner_id", "assignee_id")
_MISSING = object()
_RETRIES = 5
# PostgreSQL: serialization failure, deadlock detected. Both are safe to retry.
_RETRY_SQLSTATES = {"40001", "40P01"}


# --------------------------------------------------------------------------- reading

def get_record(entity, record_id):
    """The stored record (tombstones included), or None.

    Inside a push's after_apply hooks, the batch's own records count as stored.
    """
    rec = db.session.info.get(_PENDING, {}).get(str(record_id)) or db.session.get(SyncRecord, str(record_id))
    return rec if rec is not None and rec.entity == entity else None


# --------------------------------------------------------------------------- schemas

_schemas = {}


def _schema(et):
    s = _schemas.get(et.schema)
    if s is None:
        s = _schemas[et.schema] = et.schema()
        s._danbing_fast_dump = _fast_dumper(s)
    return s


# Dumping the loaded data back to JSON costs as much as a third of a push. For schemas made
# only of marshmallow's plain built-in fields, with no renaming, no load-only fields and no
# hooks that reshape the data, the dump is a known conversion of the loaded values
# (datetimes and dates to ISO strings, UUIDs to strings); anything else uses ``dump``.
def _identity(value):
    return value


_PLAIN = {fields.String, fields.Str, fields.Integer, fields.Int, fields.Float, fields.Boolean, fields.Bool,
          fields.Email, fields.Url, fields.URL, fields.Raw}
_ISO = {fields.DateTime, fields.NaiveDateTime, fields.AwareDateTime, fields.Date}


def _field_dumper(f):
    kind = type(f)
    if f.data_key is not None or f.attribute is not None or f.load_only:
        return None
    if kind in _PLAIN:
        return _identity
    if kind in _ISO and getattr(f, "format", None) in (None, "iso", "iso8601"):
        return lambda v: None if v is None else v.isoformat()
    if kind is fields.UUID:
        return lambda v: None if v is None else str(v)
    if kind is fields.List:
        inner = _field_dumper(f.inner)
        if inner is None:
            return None
        return lambda v: None if v is None else [inner(x) for x in v]
    if kind is fields.Dict and f.key_field is None and f.value_field is None:
        return _identity
    if kind is fields.Nested:
        nested = _fast_dumper(f.schema)
        if nested is None:
            return None
        if f.many:
            return lambda v: None if v is None else [nested(x) for x in v]
        return lambda v: None if v is None else nested(v)
    return None


def _fast_dumper(schema):
    """A function loaded -> JSON-ready dict equal to ``schema.dump(loaded)``, or None."""
    if any(tag != "validates" and names for tag, names in schema._hooks.items()):
        return None
    if set(schema.load_fields) != set(schema.dump_fields):
        return None
    dumpers = {}
    for name, f in schema.fields.items():
        d = _field_dumper(f)
        if d is None:
            return None
        dumpers[name] = d
    # Keys without a field (a schema with unknown=INCLUDE) are not dumped.
    return lambda loaded: {k: dumpers[k](v) for k, v in loaded.items() if k in dumpers}


# Marshmallow's built-in messages, in words a field worker can act on.
_MESSAGES = {
    "Unknown field.": "未知字段，请删除",
    "Missing data for required field.": "必填项，不能为空",
    "Field may not be null.": "不能为空",
    "Not a valid string.": "应为文字",
    "Not a valid integer.": "应为整数",
    "Not a valid number.": "应为数字",
    "Not a valid boolean.": "应为是/否",
    "Not a valid datetime.": "应为日期时间（ISO 8601，如 2026-05-01T08:30:00）",
    "Not a valid date.": "应为日期（如 2026-05-01）",
    "Not a valid list.": "应为列表",
    "Not a valid mapping type.": "应为对象",
    "Invalid input type.": "类型不对",
    "Invalid value.": "取值无效",
}


def humanize(errors):
    """Translate marshmallow's English defaults; keep messages a schema already wrote."""
    if isinstance(errors, dict):
        return {k: humanize(v) for k, v in errors.items()}
    if isinstance(errors, list):
        return [humanize(v) for v in errors]
    if isinstance(errors, str):
        if errors in _MESSAGES:
            return _MESSAGES[errors]
        if errors.startswith("Must be one of:"):
            return "取值应为以下之一：" + errors[len("Must be one of:"):].strip().rstrip(".")
        if errors.startswith("Length must be"):
            return "长度不符合要求（" + errors + "）"
    return errors


def validate_data(et, data, *, partial):
    """Load ``data`` with the entity's schema and dump it back to plain JSON.

    Raises ``registry.Rejected`` (422) with per-field messages.
    """
    if not isinstance(data, dict):
        raise registry.Rejected({"data": ["应为对象"]}, 422)
    s = _schema(et)
    try:
        loaded = s.load(data, partial=partial)
    except ValidationError as e:
        raise registry.Rejected(humanize(e.normalized_messages()), 422) from None
    fast = s._danbing_fast_dump
    return fast(loaded) if fast is not None else s.dump(loaded)


def _column_value(column, value):
    """Promoted values arrive as JSON; DateTime columns get naive UTC datetimes."""
    if value is None:
        return None
    if column in ("deadline", "occurred_at") and isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if dt.tzinfo is not None:
            dt = (dt - dt.utcoffset()).replace(tzinfo=None)
        return dt
    if column == "title" and isinstance(value, str):
        return value[:200]
    return value


def _promote(et, rec):
    promoted = et.promote(rec.data) or {}
    for column in registry.PROMOTED:
        if column == "owner_id":
            continue  # the engine's: the creating user
        setattr(rec, column, _column_value(column, promoted.get(column)))


# --------------------------------------------------------------------------- the unit of work

@dataclass
class _Outcome:
    status: str
    version: object = None
    errors: object = None
    wrote: bool = False


@dataclass
class UnitOfWork:
    """Changes of one transaction, decided in memory and written in a few statements."""
    user: object
    device_id: object
    now: datetime
    records: dict = field(default_factory=dict)      # id -> SyncRecord (locked or new)
    new_ids: set = field(default_factory=set)
    touched: dict = field(default_factory=dict)      # id -> SyncRecord, in order of last change
    conflicts: list = field(default_factory=list)
    exits: list = field(default_factory=list)        # (record, old scope columns)
    applied: list = field(default_factory=list)      # (entity type, record, ctx) for after_apply
    op_rows: list = field(default_factory=list)      # _OpRow
    bulk: bool = False                               # insert new rows without the ORM's unit of work

    def load(self, ids):
        """Read and row-lock the existing records among ``ids`` (one query)."""
        ids = sorted(set(ids) - set(self.records))
        if not ids:
            return
        stmt = (select(SyncRecord).where(SyncRecord.id.in_(ids)).order_by(SyncRecord.id)
                .with_for_update().execution_options(populate_existing=True))
        for rec in db.session.scalars(stmt):
            self.records[rec.id] = rec
            if self.bulk:
                db.session.expunge(rec)  # written by _flush_bulk, not by the session

    # -- deciding

    def create(self, et, record_id, data, *, base_version=None, op_id=None):
        """A new record from validated ``data``; raises Rejected."""
        user = self.user
        if user is not None and et.create_roles is not None and user.role not in et.create_roles:
            raise registry.Rejected({"entity": [f"您的角色不能创建{et.name}记录"]}, 403)
        data = dict(data)
        if data.get("jurisdiction_code") is None and user is not None:
            data["jurisdiction_code"] = user.jurisdiction_code
        if user is not None and not covers(user.jurisdiction_code, data.get("jurisdiction_code")):
            raise registry.Rejected({"jurisdiction_code": ["不能在您的辖区之外创建记录"]}, 403)
        ctx = registry.WriteContext(user=user, device_id=self.device_id, now=self.now, op=UPSERT,
                                    old=None, new=data, changed=frozenset(data))
        data = self._check(et, ctx)
        rec = SyncRecord(id=record_id, entity=et.name, version=1, deleted=False, data=data,
                         field_versions={f: [1, self.device_id] for f in data},
                         owner_id=user.id if user is not None else None,
                         created_at=self.now, updated_at=self.now,
                         created_by_id=user.id if user is not None else None,
                         updated_by_id=user.id if user is not None else None,
                         updated_by_device=self.device_id)
        _promote(et, rec)
        self.records[record_id] = rec
        self.new_ids.add(record_id)
        self._touch(rec)
        self.applied.append((et, rec, ctx))
        return _Outcome(APPLIED, 1, None, True)

    def edit(self, et, rec, patch, *, base_version, op_id=None, force=False, resurrect=False):
        """Merge a validated ``patch`` into ``rec``, field by field; raises Rejected.

        A field changed on the server after ``base_version`` by someone other than this
        device overlaps: content fields take this (later) edit, workflow fields keep the
        server's value unless this user's role owns them. Either way the losing value is
        kept in a SyncConflict. ``force`` (server writes) always takes the new value.
        """
        user = self.user
        base = rec.version if base_version is None and force else (base_version or 0)
        if base > rec.version:
            raise registry.Rejected({"base_version": [
                f"设备上的版本 {base} 比服务器上的 {rec.version} 还新，请先拉取最新数据"]}, 409)
        owns_workflow = user is None or force or user.role in et.workflow_roles
        new, changed, lost = dict(rec.data), set(), []
        for f, value in patch.items():
            current = rec.data.get(f, _MISSING)
            if current == value:
                continue
            fv = rec.field_versions.get(f)
            overlap = fv is not None and fv[0] > base and fv[1] != self.device_id
            if overlap:
                if f in et.workflow_fields and not owns_workflow:
                    lost.append((f, value, current, "workflow_server_wins"))
                    continue
                lost.append((f, current, value, "later_edit_wins"))
            new[f] = value
            changed.add(f)
        if "jurisdiction_code" in changed and user is not None and not covers(user.jurisdiction_code, new.get("jurisdiction_code")):
            raise registry.Rejected({"jurisdiction_code": ["不能把记录移到您的辖区之外"]}, 403)
        if not changed and not resurrect:
            self._lose(et, rec, lost, op_id, base_version, rec.version)
            return _Outcome(CONFLICT if lost else APPLIED, rec.version, _conflict_errors(lost), False)
        ctx = registry.WriteContext(user=user, device_id=self.device_id, now=self.now, op=UPSERT,
                                    old=rec.data, new=new, changed=frozenset(changed))
        new = self._check(et, ctx)
        changed |= {f for f in new if rec.data.get(f, _MISSING) != new[f]}
        old_scope = {c: getattr(rec, c) for c in SCOPE_COLUMNS}
        version = rec.version + 1
        versions = dict(rec.field_versions)
        for f in changed:
            versions[f] = [version, self.device_id]
        rec.data, rec.field_versions, rec.version = new, versions, version
        rec.deleted = False
        self._stamp(rec)
        _promote(et, rec)
        self._maybe_exit(rec, old_scope)
        self._lose(et, rec, lost, op_id, base_version, version)
        self._touch(rec)
        self.applied.append((et, rec, ctx))
        return _Outcome(CONFLICT if lost else APPLIED, version, _conflict_errors(lost), True)

    def delete(self, et, rec, *, base_version, op_id=None):
        user = self.user
        if user is not None and rec.owner_id != user.id and user.role not in DELETE_ROLES:
            raise registry.Rejected({"id": ["只有记录的创建人或审核人员可以删除"]}, 403)
        base = base_version or 0
        later = sorted(f for f, (v, dev) in rec.field_versions.items() if v > base and dev != self.device_id)
        ctx = registry.WriteContext(user=user, device_id=self.device_id, now=self.now, op=DELETE,
                                    old=rec.data, new=None, changed=frozenset())
        if et.check is not None:
            et.check(ctx)
        lost = [("*", rec.data, None, "stale_delete")] if later else []
        rec.version, rec.deleted = rec.version + 1, True
        self._stamp(rec)
        self._lose(et, rec, lost, op_id, base_version, rec.version)
        self._touch(rec)
        self.applied.append((et, rec, ctx))
        errors = {"*": [f"删除时服务器上已有他人的新修改（{'、'.join(later)}），记录仍已删除，原内容已存档，可由审核人员恢复"]} if lost else None
        return _Outcome(CONFLICT if lost else APPLIED, rec.version, errors, True)

    def undelete(self, et, rec, data):
        """Bring a tombstone back with ``data`` (a supervisor restoring a conflict)."""
        return self.edit(et, rec, data, base_version=None, force=True, resurrect=True)

    def refuse_on_tombstone(self, et, rec, patch, *, base_version, op_id):
        """An edit for a record deleted on the server: kept as a conflict, not applied."""
        self._lose(et, rec, [("*", patch, None, "deleted_on_server")], op_id, base_version, rec.version)
        return _Outcome(CONFLICT, rec.version, {"*": [
            "该记录已在服务器上删除，您的修改未生效，已存档，可由审核人员恢复"]}, False)

    # -- helpers

    def _check(self, et, ctx):
        if et.check is None:
            return ctx.new
        additions = et.check(ctx)
        return {**ctx.new, **additions} if additions else ctx.new

    def _stamp(self, rec):
        rec.updated_at = self.now
        rec.updated_by_id = self.user.id if self.user is not None else None
        rec.updated_by_device = self.device_id

    def _touch(self, rec):
        self.touched.pop(rec.id, None)
        self.touched[rec.id] = rec

    def _maybe_exit(self, rec, old_scope):
        if any(old_scope[c] != getattr(rec, c) for c in SCOPE_COLUMNS):
            self.exits.append((rec, old_scope))

    def _lose(self, et, rec, lost, op_id, base_version, version):
        for f, overwritten, kept, rule in lost:
            self.conflicts.append(SyncConflict(
                entity=et.name, record_id=rec.id, field=f, overwritten=overwritten, kept=kept, rule=rule,
                op_id=op_id, user_id=self.user.id if self.user is not None else None,
                device_id=self.device_id, base_version=base_version, version=version,
                jurisdiction_code=rec.jurisdiction_code, created_at=self.now))

    # -- writing

    def flush(self):
        """Write everything and run the after_apply hooks; the records get their pull
        sequence numbers (see ``take_seqs``)."""
        if self.bulk:
            return self._flush_bulk()
        with db.session.no_autoflush:
            if self.touched:
                first = take_seqs(len(self.touched))
                for i, rec in enumerate(self.touched.values()):
                    rec.seq = first + i
            db.session.add_all(self.records[i] for i in self.new_ids)
            db.session.add_all(SyncOp(**vars(o)) for o in self.op_rows)
            db.session.add_all(self.conflicts)
            db.session.add_all(SyncScopeExit(seq=rec.seq, entity=rec.entity, record_id=rec.id, **old)
                               for rec, old in self.exits)
        db.session.flush()
        self._run_hooks()

    def _flush_bulk(self):
        """A push's writes, with the counter row locked for as short a time as possible.

        Everything that does not need a sequence number goes first: the op results, the
        conflicts and all the hooks' work (audit entries, blob references, vision requests),
        flushed. Only then are the numbers taken, and the records written with them in
        two statements (INSERT of the new ones, UPDATE of the changed ones), just before
        commit: the counter row, which every writer waits on, is held for those statements
        and the commit alone. The records are plain objects outside the session meanwhile
        (``load`` detached them), so nothing writes them early; what the hooks changed in
        them is part of the same write. Hooks that look a record up by id find this
        batch's pending records through ``get_record``.
        """
        with db.session.no_autoflush:
            if self.op_rows:
                db.session.execute(insert(SyncOp), [vars(o) for o in self.op_rows])
            db.session.add_all(self.conflicts)
        pending = db.session.info.setdefault(_PENDING, {})
        pending.update(self.touched)
        try:
            self._run_hooks()
        finally:
            for rid in self.touched:
                pending.pop(rid, None)
        db.session.flush()
        if not self.touched:
            return
        # ---- from here to commit every other writer waits on the counter row
        first = take_seqs(len(self.touched))
        for i, rec in enumerate(self.touched.values()):
            rec.seq = first + i
        new = [_record_row(rec) for rid, rec in self.touched.items() if rid in self.new_ids]
        changed = [_record_row(rec, "b_") for rid, rec in self.touched.items() if rid not in self.new_ids]
        if new:
            db.session.execute(insert(SyncRecord), new)
        if changed:
            db.session.connection().execute(_UPDATE_RECORD, changed)
        if self.exits:
            db.session.execute(insert(SyncScopeExit), [
                {"seq": rec.seq, "entity": rec.entity, "record_id": rec.id, **old} for rec, old in self.exits])

    def _run_hooks(self):
        for et, rec, ctx in self.applied:
            for hook in registry.after_apply:
                hook(et, rec, ctx)
        if self.applied:
            for hook in registry.after_apply_many:
                hook(self.applied)


# session.info key: {id: SyncRecord} of a bulk unit of work whose records are not yet written.
_PENDING = "sync_pending_records"


_RECORD_COLUMNS = tuple(c.key for c in SyncRecord.__table__.columns)
# Every column but the key and the creation stamp, by id (executemany: one round trip).
_UPDATE_RECORD = (update(SyncRecord.__table__).where(SyncRecord.__table__.c.id == bindparam("b_id"))
                  .values({c: bindparam("b_" + c) for c in _RECORD_COLUMNS
                           if c not in ("id", "created_at", "created_by_id", "owner_id")}))


def _record_row(rec, prefix=""):
    return {prefix + c: getattr(rec, c) for c in _RECORD_COLUMNS}


@dataclass
class _OpRow:
    """One op's stored result (a ``SyncOp`` row), kept light until it is inserted."""
    op_id: str
    user_id: int
    device_id: str
    entity: str
    record_id: str
    op: str
    status: str
    version: object
    errors: object
    wrote: bool
    received_at: datetime

    def result(self):
        return {"op_id": self.op_id, "status": self.status, "version": self.version, "errors": self.errors}


def _conflict_errors(lost):
    if not lost:
        return None
    out = {}
    for f, overwritten, kept, rule in lost:
        if rule == "workflow_server_wins":
            out[f] = ["该字段由服务器或负责角色管理，服务器上已有较新的值，您的修改未生效，已存档，可由审核人员恢复"]
        else:
            out[f] = ["他人在您之前修改了该字段，已按较后的修改（您的）保存，被覆盖的值已存档，可由审核人员恢复"]
    return out


def take_seqs(n):
    """Reserve ``n`` pull sequence numbers; returns the first.

    Call it at the END of a transaction (after reads, decisions and, in a push, the hooks;
    only the records' writes and the commit after it): the counter row stays locked until
    commit, which is what makes sequence order equal commit order, and every other writer
    waits on it meanwhile.
    """
    value = db.session.execute(update(SyncCounter).where(SyncCounter.id == 1)
                               .values(value=SyncCounter.value + n).returning(SyncCounter.value)).scalar()
    if value is None:
        # Fresh database (or emptied tables): start the counter above any stored number.
        # Two first writers racing here collide on the primary key and one retries.
        start = db.session.scalar(select(func.coalesce(func.max(SyncRecord.seq), 0)))
        value = start + n
        db.session.add(SyncCounter(id=1, value=value))
        db.session.flush()
    return value - n + 1


def _retrying(fn):
    """Run ``fn`` in a transaction, retrying when a concurrent writer won a race."""
    for attempt in range(_RETRIES):
        try:
            result = fn()
            db.session.commit()
            return result
        except IntegrityError:
            db.session.rollback()
            log.info("sync: unique-key race, retrying (attempt %d)", attempt + 1)
        except DBAPIError as e:
            db.session.rollback()
            if getattr(e.orig, "sqlstate", None) not in _RETRY_SQLSTATES:
                raise
            log.info("sync: %s, retrying (attempt %d)", e.orig.sqlstate, attempt + 1)
        except BaseException:
            db.session.rollback()
            raise
    raise Unavailable("服务器繁忙（并发写入冲突），请稍后重试；已提交的操作不会重复执行。")


# --------------------------------------------------------------------------- push

def push(user, device_id, ops):
    """Apply a batch of ops for ``user`` on ``device_id``; one result per op, in order.

    ``ops`` are envelope-validated dicts (see ``sync.protocol.parse_push``): op_id, entity,
    id, op, base_version, data. Per-op problems never stop the batch.
    """
    return _retrying(lambda: _push_once(user, device_id, ops))


def _push_once(user, device_id, ops):
    uow = UnitOfWork(user=user, device_id=device_id, now=utcnow(), bulk=True)
    with db.session.no_autoflush:
        uow.load(op["id"] for op in ops)
        # Read after the locks are held: a concurrent copy of this batch has committed by now.
        done = {o.op_id: o for o in db.session.scalars(
            select(SyncOp).where(SyncOp.op_id.in_({op["op_id"] for op in ops})))}
        visible = scope.visible_ids(user, uow.records.values())
        results, seen, stale = [], {}, []
        for op in ops:
            prior = done.get(op["op_id"]) or seen.get(op["op_id"])
            if prior is not None:
                results.append(_duplicate(prior, user))
            else:
                outcome = _apply(uow, op, visible)
                row = _OpRow(op_id=op["op_id"], user_id=user.id, device_id=device_id, entity=op["entity"],
                             record_id=op["id"], op=op["op"], status=outcome.status, version=outcome.version,
                             errors=outcome.errors, wrote=outcome.wrote, received_at=uow.now)
                seen[op["op_id"]] = row
                uow.op_rows.append(row)
                results.append(row.result())
                prior = row
            if not prior.wrote and prior.status in (CONFLICT, REJECTED) and prior.user_id == user.id:
                stale.append((results[-1], op["id"]))
    uow.flush()
    _attach_current(user, uow, stale)
    return results


def _attach_current(user, uow, stale):
    """An op that changed nothing and was not accepted as sent (rejected, or a conflict the
    server's value won, or an edit of a tombstone) leaves the device with an optimistic
    local copy the server does not have. No new version comes for it on pull, so the result
    carries the record as the server now holds it (``current``): a pull change, a drop when
    the user may not see it, or null when the server has no such record.
    """
    if not stale:
        return
    recs = {rid: uow.records.get(rid) for _, rid in stale}
    visible = uow.new_ids | scope.visible_ids(user, [r for r in recs.values() if r is not None])
    for result, rid in stale:
        rec = recs[rid]
        if rec is None:
            result["current"] = None
        elif rec.id in visible:
            result["current"] = rec.to_change()
        else:
            result["current"] = {"entity": rec.entity, "id": rec.id, "version": rec.version, "deleted": True,
                                 "data": None, "dropped": True}


def _duplicate(prior, user):
    if prior.user_id != user.id:
        return {"op_id": prior.op_id, "status": REJECTED, "version": None,
                "errors": {"op_id": ["该 op_id 已被其他用户使用，请生成新的 op_id"]}}
    return {**prior.result(), "status": DUPLICATE, "original_status": prior.status}


def _apply(uow, op, visible):
    et = registry.get(op["entity"])
    rec = uow.records.get(op["id"])
    try:
        if rec is not None and rec.entity != et.name:
            raise registry.Rejected({"id": [f"该编号已被另一类记录（{rec.entity}）使用，请换一个编号"]}, 409)
        if rec is not None and rec.id not in uow.new_ids and rec.id not in visible:
            raise registry.Rejected({"id": ["该记录不在您的可见范围内（辖区、本人创建或指派给您），不能修改"]}, 403)
        if op["op"] == DELETE:
            if rec is None or rec.deleted:
                return _Outcome(APPLIED, rec.version if rec is not None else None, None, False)
            return uow.delete(et, rec, base_version=op["base_version"], op_id=op["op_id"])
        if rec is None:
            data = validate_data(et, op["data"], partial=False)
            return uow.create(et, op["id"], data, base_version=op["base_version"], op_id=op["op_id"])
        patch = validate_data(et, op["data"], partial=True)
        if rec.deleted:
            return uow.refuse_on_tombstone(et, rec, patch, base_version=op["base_version"], op_id=op["op_id"])
        return uow.edit(et, rec, patch, base_version=op["base_version"], op_id=op["op_id"])
    except registry.Rejected as e:
        return _Outcome(REJECTED, rec.version if rec is not None else None, e.errors, False)


# --------------------------------------------------------------------------- server writes

def server_write(user, entity, record_id, changes, *, device_id=None, create=False, commit=True,
                 validate=True):
    """A change made by the server or a supervisor through a non-sync API.

    Validates ``changes`` with the entity's schema (partially, or fully with ``create``),
    runs the entity's check hook, merges ``changes`` into the document (the new values
    win; overwritten values are not conflicts: the caller decided), bumps version and
    sequence, runs ``after_apply`` hooks, and COMMITS (so devices see it on their next
    pull). ``user`` may be None for the system itself. With ``commit=False`` the caller
    owns the transaction: the counter row then stays locked until the caller commits,
    so commit soon. A write to a deleted record brings it back. ``validate=False`` skips
    the schema (for values the engine stored before, e.g. restoring a conflict).

    Raises ``registry.Rejected`` (status 403, 404, 409 or 422) when the write is not allowed.
    """
    et = registry.get(entity)
    if et is None:
        raise registry.Rejected({"entity": [f"未知的记录类型 {entity}"]}, 422)
    record_id = str(record_id)

    def once():
        uow = UnitOfWork(user=user, device_id=device_id, now=utcnow())
        if record_id in db.session.info.get(_PENDING, {}):
            # Called from a push's after_apply hook for a record of that same push: the push
            # writes it last, and would overwrite this write with its own copy.
            if create:
                raise registry.Rejected({"id": ["该编号的记录已存在"]}, 409)
            raise RuntimeError(f"an after_apply hook may not change {entity} {record_id}: its push writes it")
        with db.session.no_autoflush:
            uow.load([record_id])
            rec = uow.records.get(record_id)
            if create:
                if rec is not None:
                    raise registry.Rejected({"id": ["该编号的记录已存在"]}, 409)
                data = validate_data(et, changes, partial=False) if validate else dict(changes)
                uow.create(et, record_id, data)
            else:
                if rec is None or rec.entity != entity:
                    raise registry.Rejected({"id": ["没有这条记录"]}, 404)
                if user is not None and not scope.can_see(user, rec):
                    raise registry.Rejected({"id": ["该记录不在您的可见范围内"]}, 403)
                patch = validate_data(et, changes, partial=True) if validate else dict(changes)
                if rec.deleted:
                    uow.undelete(et, rec, patch)
                else:
                    uow.edit(et, rec, patch, base_version=None, force=True)
        uow.flush()
        return uow.records[record_id]

    if not commit:
        return once()
    return _retrying(once)


# --------------------------------------------------------------------------- conflicts

def list_conflicts(user, *, include_restored=False, record_id=None):
    """Conflict records within ``user``'s jurisdiction, newest first (a select statement)."""
    from server.models.jurisdiction import scope_prefix
    stmt = select(SyncConflict).where(SyncConflict.jurisdiction_code.startswith(
        scope_prefix(user.jurisdiction_code), autoescape=True))
    if not include_restored:
        stmt = stmt.where(SyncConflict.restored_at.is_(None))
    if record_id is not None:
        stmt = stmt.where(SyncConflict.record_id == record_id)
    return stmt.order_by(SyncConflict.id.desc())


RESTORE_ROLES = frozenset({"supervisor", "admin"})


def restore_conflict(user, conflict_id):
    """Put an overwritten value back (a supervisor's decision); returns the record.

    The restore is an ordinary server write: it bumps the version, so every device gets
    it on its next pull, and it is itself recorded (``restored_at``, ``restored_by_id``).
    """
    from server.errors import Conflict as ConflictError, Forbidden, NotFound
    if user.role not in RESTORE_ROLES:
        raise Forbidden("只有审核人员可以恢复被覆盖的值。")
    c = db.session.get(SyncConflict, conflict_id)
    if c is None or not covers(user.jurisdiction_code, c.jurisdiction_code):
        raise NotFound("没有这条冲突记录，或不在您的辖区内。")
    if c.restored_at is not None:
        raise ConflictError("该值已恢复过。")
    changes = c.overwritten if c.field == "*" else {c.field: c.overwritten}
    if not isinstance(changes, dict):
        raise BadRequest("被覆盖的内容为空，无需恢复。")
    rec = server_write(user, c.entity, c.record_id, changes, commit=False, validate=False)
    c.restored_at, c.restored_by_id = utcnow(), user.id
    db.session.commit()
    return rec


# --------------------------------------------------------------------------- pull

def committed_seq():
    """The last sequence number whose transaction has committed."""
    return db.session.scalar(select(SyncCounter.value).where(SyncCounter.id == 1)) or 0


def pull(user, cursor, limit):
    """Changes visible to ``user`` with sequence above ``cursor`` (an int), oldest first.

    Returns ``{"changes": [...], "cursor": int, "has_more": bool}``; the view encodes the
    cursor. Records that moved out of the user's scope come as drops: ``deleted: true``,
    ``data: null`` and ``dropped: true``.
    """
    # Read the committed counter FIRST and look only at numbers up to it. Every number up
    # to ``high`` belongs to a transaction that committed before this statement (numbers
    # are taken under the counter's row lock, held to commit), so each later statement,
    # with its later snapshot, sees all of them -- the records and the scope exits alike.
    # Numbers above ``high`` are left for the next pull even when a later snapshot shows
    # some of them: a transaction numbered below them may still be committing.
    high = committed_seq()
    if high <= cursor:
        return {"changes": [], "cursor": cursor, "has_more": False}
    # Plain rows, not ORM objects: a page is read-only, and hydrating 500 objects costs more
    # than the query.
    rows = db.session.execute(select(*_CHANGE_COLUMNS).where(SyncRecord.seq > cursor, SyncRecord.seq <= high,
                                                             scope.visible_clause(user))
                              .order_by(SyncRecord.seq).limit(limit + 1)).all()
    exits = _exits_after(user, cursor, high, limit + 1)
    items = [(r.seq, r) for r in rows] + [(e.seq, e) for e in exits]
    items.sort(key=lambda t: t[0])
    has_more = len(items) > limit
    items = items[:limit]
    drops = _still_gone(user, [obj for _, obj in items if isinstance(obj, SyncScopeExit)])
    changes, sent = [], set()
    for _, obj in items:
        if not isinstance(obj, SyncScopeExit):
            changes.append({"entity": obj.entity, "id": obj.id, "version": obj.version, "deleted": obj.deleted,
                            "data": None if obj.deleted else obj.data})
        elif obj.record_id in drops and obj.record_id not in sent:
            changes.append({"entity": obj.entity, "id": obj.record_id, "version": drops[obj.record_id],
                            "deleted": True, "data": None, "dropped": True})
            sent.add(obj.record_id)
    # With more to come, resume after the last item handed out (a record and an exit of
    # the same write share its number, and both lists were cut at limit + 1, so nothing
    # at or below it is left behind); otherwise everything up to ``high`` has been seen.
    new_cursor = items[-1][0] if has_more else high
    return {"changes": changes, "cursor": new_cursor, "has_more": has_more}


_CHANGE_COLUMNS = (SyncRecord.seq, SyncRecord.entity, SyncRecord.id, SyncRecord.version, SyncRecord.deleted,
                   SyncRecord.data)


def _exits_after(user, cursor, high, limit):
    from sqlalchemy import or_
    from server.models.jurisdiction import scope_prefix
    custom = [n for n in registry.names() if registry.get(n).visible is not None]
    clause = or_(SyncScopeExit.jurisdiction_code.startswith(scope_prefix(user.jurisdiction_code), autoescape=True),
                 SyncScopeExit.owner_id == user.id, SyncScopeExit.assignee_id == user.id,
                 SyncScopeExit.entity.in_(custom))
    return db.session.scalars(select(SyncScopeExit).where(SyncScopeExit.seq > cursor, SyncScopeExit.seq <= high, clause)
                              .order_by(SyncScopeExit.seq).limit(limit)).all()


def _still_gone(user, exits):
    """{record id: version} for moved records the user may no longer see."""
    if not exits:
        return {}
    recs = db.session.scalars(select(SyncRecord).where(SyncRecord.id.in_({e.record_id for e in exits}))).all()
    visible = scope.visible_ids(user, recs)
    return {r.id: r.version for r in recs if r.id not in visible}
