"""Property: phones working offline converge on the server, and no op is lost or applied twice.

Hypothesis drives five phones (two of the same grid member, a county supervisor, an
inspector, another village's information officer). Each makes random offline creates,
edits (content and workflow fields; the supervisor also assigns) and deletes into its
outbox, and now and then syncs over a bad network: a request may be lost, its response
lost (applied, but the phone does not know and sends it again), delivered twice, or held
in flight and delivered much later, after newer requests. Phones pull at random moments
with their own cursors, in pages of random size. A phone takes an op out of its outbox
only when it got the answer, and replaces its optimistic copy with the server's ``current``
copy when the answer carries one (an op the server did not take as sent).

Beside the real server runs a reference model of the protocol's rules, fed each op the
first time the server receives it: a create, a field-by-field merge (content: later edit
wins; workflow: server and supervisor win), deletes by owner or supervisor, edits to
tombstones refused, every lost value kept as a conflict. After everyone has flushed their
outbox and pulled:

* every phone's records equal the server's records that phone's user may see;
* the server's records equal the reference, version by version;
* every op ever made has exactly one stored result, with the reference's status; replays
  answered ``duplicate`` with the original status;
* each record's version equals the number of ops that wrote it (none applied twice);
* the conflict records are exactly the reference's lost values.

The same test runs on SQLite and on PostgreSQL (DATABASE_URL).
"""
import itertools
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from server.extensions import db
from server.models.jurisdiction import covers
from sync.models import SyncConflict, SyncOp, SyncRecord, SyncScopeExit
from tests.conftest import SyncDevice

PHONES = ("wangge", "wangge", "zhuren", "zhifa1", "xinxi")
ENTITIES = ("probe", "probe_report")
TITLES = ("配电箱未上锁", "消防通道堵塞", "护栏缺失")
DESCRIPTIONS = ("村委会门口", "仓库北侧", None)
STATUSES = ("new", "verified", "closed")
WORKFLOW = frozenset({"status", "assignee_id", "review"})
WORKFLOW_ROLES = frozenset({"supervisor", "admin"})
DELETE_ROLES = frozenset({"supervisor", "admin"})
OTHER_VILLAGE = "130131101201"  # 温塘村, xinxi's; the supervisor files records there too
_MISSING = object()
ACTIONS = ("create",) * 2 + ("edit",) * 4 + ("delete",) + ("sync",) * 4 + ("late",)


@dataclass
class User:
    id: int
    role: str
    jurisdiction_code: str


# ------------------------------------------------------------------ the reference model

@dataclass
class RefRecord:
    entity: str
    owner: int
    version: int
    data: dict
    fv: dict  # field -> (version, device)
    deleted: bool = False


class Reference:
    """The protocol's rules, applied to ops in the order the server first receives them."""

    def __init__(self):
        self.records, self.results, self.conflicts = {}, {}, []

    @staticmethod
    def visible(user, rec):
        return (covers(user.jurisdiction_code, rec.data.get("jurisdiction_code")) or rec.owner == user.id
                or rec.data.get("assignee_id") == user.id)

    def receive(self, user, device, op):
        """The expected (status, version) of ``op``; replays give ('duplicate', original)."""
        if op["op_id"] in self.results:
            return "duplicate", self.results[op["op_id"]]
        result = self.results[op["op_id"]] = self._apply(user, device, op)
        return result

    def _apply(self, user, device, op):
        rid, base = op["id"], op["base_version"] or 0
        rec = self.records.get(rid)
        if rec is not None and not self.visible(user, rec):
            return "rejected", rec.version
        if op["op"] == "delete":
            if rec is None or rec.deleted:
                return "applied", rec.version if rec else None
            if rec.owner != user.id and user.role not in DELETE_ROLES:
                return "rejected", rec.version
            later = [f for f, (v, d) in rec.fv.items() if v > base and d != device]
            if later:
                self.conflicts.append((rid, "*", dict(rec.data), None, "stale_delete"))
            rec.version, rec.deleted = rec.version + 1, True
            return ("conflict" if later else "applied"), rec.version
        if rec is None:
            data = dict(op["data"])
            if data.get("jurisdiction_code") is None:
                data["jurisdiction_code"] = user.jurisdiction_code
            self.records[rid] = RefRecord(op["entity"], user.id, 1, data, {f: (1, device) for f in data})
            return "applied", 1
        if rec.deleted:
            self.conflicts.append((rid, "*", op["data"], None, "deleted_on_server"))
            return "conflict", rec.version
        owns = user.role in WORKFLOW_ROLES
        new, changed, lost = dict(rec.data), set(), []
        for f, value in op["data"].items():
            current = rec.data.get(f, _MISSING)
            if current == value:
                continue
            last = rec.fv.get(f)
            if last is not None and last[0] > base and last[1] != device:
                if f in WORKFLOW and not owns:
                    lost.append((f, value, current, "workflow_server_wins"))
                    continue
                lost.append((f, current, value, "later_edit_wins"))
            new[f] = value
            changed.add(f)
        if changed:
            rec.version += 1
            rec.data = new
            rec.fv.update({f: (rec.version, device) for f in changed})
        self.conflicts += [(rid, *entry) for entry in lost]
        return ("conflict" if lost else "applied"), rec.version


# ------------------------------------------------------------------ phones and the network

@dataclass
class Phone:
    device: SyncDevice
    user: User
    store: dict = field(default_factory=dict)    # id -> {"entity", "version", "data"}
    outbox: list = field(default_factory=list)

    @property
    def device_id(self):
        return self.device.device_id

    def reset(self):
        self.store, self.outbox, self.device.cursor = {}, [], None

    def pull(self, limit, trace):
        changes = self.device.pull_all(limit=limit)
        trace.append(f"pull {self.user.id}/{self.device_id[-4:]} limit={limit}: "
                     + ", ".join(f"{c['id'][-3:]}v{c['version']}{'D' if c['deleted'] else ''}" for c in changes))
        for change in changes:
            if change["deleted"]:
                self.store.pop(change["id"], None)
            else:
                self.store[change["id"]] = {"entity": change["entity"], "version": change["version"],
                                            "data": change["data"]}


class Network:
    def __init__(self, ref):
        self.ref, self.in_flight, self.made, self.trace = ref, [], [], []

    def deliver(self, phone, ops):
        """The server receives ``ops``; checks each answer against the reference."""
        results = phone.device.push(*ops)["results"]
        self.trace.append(f"push {phone.user.id}/{phone.device_id[-4:]}: " + ", ".join(
            f"{op['op'][0]}{op['id'][-3:]} b{op['base_version']} {op['data']} -> {r['status']} v{r['version']}"
            for op, r in zip(ops, results)))
        assert len(results) == len(ops)
        for op, got in zip(ops, results):
            status, expected = self.ref.receive(phone.user, phone.device_id, op)
            assert got["op_id"] == op["op_id"]
            if status == "duplicate":
                assert got["status"] == "duplicate", (op, got)
                assert (got["original_status"], got["version"]) == expected, (op, got, expected)
            else:
                assert (got["status"], got["version"]) == (status, expected), (op, got, expected)
        return results

    @staticmethod
    def settle(phone, ops, results):
        """The phone got the answer: these ops leave its outbox, whatever their status, and
        where the server did not take an op as sent, its ``current`` copy replaces the
        phone's optimistic one."""
        done = {op["op_id"] for op in ops}
        phone.outbox = [op for op in phone.outbox if op["op_id"] not in done]
        for op, result in zip(ops, results):
            if "current" not in result:
                continue
            current, local = result["current"], phone.store.get(op["id"])
            if local is not None and current is not None and local["version"] > current["version"]:
                continue  # the phone already pulled something newer
            if current is None or current["deleted"]:
                phone.store.pop(op["id"], None)
            else:
                phone.store[op["id"]] = {"entity": current["entity"], "version": current["version"],
                                         "data": current["data"]}


# ------------------------------------------------------------------ the test

def _empty_sync_tables():
    db.session.rollback()
    for model in (SyncConflict, SyncScopeExit, SyncOp, SyncRecord):
        db.session.execute(delete(model))
    db.session.commit()


_ids = iter(())


def _new_id():
    """Ids in order of making, so that a failing example replays exactly (tables are
    emptied before each example)."""
    return str(uuid.UUID(int=next(_ids)))


def _make_op(phone, kind, rid, entity, data=None):
    local = phone.store.get(rid)
    op = {"op_id": _new_id(), "entity": entity, "id": rid, "op": kind,
          "base_version": local["version"] if local else None, "data": data}
    phone.outbox.append(op)
    return op


def _step(draw, phones, net, users):
    phone = phones[draw(st.integers(0, len(phones) - 1))]
    action = draw(st.sampled_from(ACTIONS))
    if action == "create":
        data = {"title": draw(st.sampled_from(TITLES))}
        if draw(st.booleans()):
            data["description"] = draw(st.sampled_from(DESCRIPTIONS))
        if phone.user.role == "supervisor" and draw(st.booleans()):
            data["jurisdiction_code"] = OTHER_VILLAGE
        rid, entity = _new_id(), draw(st.sampled_from(ENTITIES))
        net.made.append(_make_op(phone, "upsert", rid, entity, data))
        phone.store[rid] = {"entity": entity, "version": 0, "data": data}
    elif action in ("edit", "delete"):
        if not phone.store:
            return
        rid = draw(st.sampled_from(sorted(phone.store)))
        local = phone.store[rid]
        if action == "delete":
            net.made.append(_make_op(phone, "delete", rid, local["entity"]))
            del phone.store[rid]
            return
        optional = {"title": st.sampled_from(TITLES), "description": st.sampled_from(DESCRIPTIONS),
                    "status": st.sampled_from(STATUSES)}
        if phone.user.role == "supervisor":
            optional["assignee_id"] = st.sampled_from([None, users["wangge"].id, users["xinxi"].id])
        patch = draw(st.fixed_dictionaries({}, optional=optional))
        net.made.append(_make_op(phone, "upsert", rid, local["entity"], patch))
        local["data"] = {**local["data"], **patch}
    elif action == "sync":
        if phone.outbox:
            ops = list(phone.outbox[:draw(st.integers(1, 8))])
            fate = draw(st.sampled_from(["ok", "ok", "request_lost", "response_lost", "in_flight", "twice"]))
            if fate == "ok":
                net.settle(phone, ops, net.deliver(phone, ops))
            elif fate == "response_lost":
                net.deliver(phone, ops)
            elif fate == "in_flight":
                net.in_flight.append((phone, ops))
            elif fate == "twice":
                net.deliver(phone, ops)
                net.settle(phone, ops, net.deliver(phone, ops))
        if draw(st.integers(0, 3)):
            phone.pull(draw(st.integers(1, 6)), net.trace)
    elif action == "late" and net.in_flight:
        # A request held up in the network arrives after the phone gave up on it.
        phone, ops = net.in_flight.pop(draw(st.integers(0, len(net.in_flight) - 1)))
        net.deliver(phone, ops)


def test_offline_phones_converge_and_no_op_is_lost_or_applied_twice(app, device, demo):
    users = {name: User(u.id, u.role, u.jurisdiction_code) for name, u in demo.items()}
    phones = [Phone(device(name), users[name]) for name in PHONES]

    @settings(max_examples=int(os.environ.get("SYNC_PROPERTY_EXAMPLES", "25")), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.data())
    def run(data):
        draw = data.draw
        global _ids
        _empty_sync_tables()
        _ids = itertools.count(1)
        for phone in phones:
            phone.reset()
        ref = Reference()
        net = Network(ref)
        for _ in range(draw(st.integers(15, 60))):
            _step(draw, phones, net, users)

        # The network settles: late requests arrive or are lost for good; then every phone
        # flushes its outbox over a good link and pulls.
        for phone, ops in net.in_flight:
            if draw(st.booleans()):
                net.deliver(phone, ops)
        for phone in phones:
            while phone.outbox:
                ops = list(phone.outbox[:draw(st.integers(1, 20))])
                net.settle(phone, ops, net.deliver(phone, ops))
        for phone in phones:
            phone.pull(draw(st.sampled_from([3, 500])), net.trace)
        try:
            _check(phones, ref, net)
        except AssertionError:
            print("\n".join(net.trace))
            raise

    run()


def _check(phones, ref, net):
    db.session.expire_all()
    server = {r.id: r for r in db.session.scalars(select(SyncRecord))}

    # The server holds exactly what the rules say, version for version.
    assert set(server) == set(ref.records)
    for rid, want in ref.records.items():
        got = server[rid]
        assert (got.entity, got.owner_id, got.version, got.deleted) == (
            want.entity, want.owner, want.version, want.deleted), rid
        assert got.data == want.data, rid

    # Every phone sees exactly the server's live records its user may see.
    for phone in phones:
        expected = {rid: (r.version, r.data) for rid, r in ref.records.items()
                    if not r.deleted and Reference.visible(phone.user, r)}
        have = {rid: (local["version"], local["data"]) for rid, local in phone.store.items()}
        assert have == expected, phone.user

    # No op lost, none applied twice.
    stored = {o.op_id: o for o in db.session.scalars(select(SyncOp))}
    made = [op["op_id"] for op in net.made]
    assert len(made) == len(set(made)) and set(stored) == set(made) == set(ref.results)
    for op_id, (status, version) in ref.results.items():
        assert (stored[op_id].status, stored[op_id].version) == (status, version), op_id
    writes = Counter(o.record_id for o in stored.values() if o.wrote)
    for rid, rec in server.items():
        assert rec.version == writes[rid], rid

    # Every lost value is kept, and nothing else.
    conflicts = Counter((c.record_id, c.field, _freeze(c.overwritten), _freeze(c.kept), c.rule)
                        for c in db.session.scalars(select(SyncConflict)))
    assert conflicts == Counter((rid, f, _freeze(o), _freeze(k), rule) for rid, f, o, k, rule in ref.conflicts)


def _freeze(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value
