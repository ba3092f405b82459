"""Gap-free pull under concurrent writers (PostgreSQL).

Several writer threads push batches (new records, and edits of a few shared records that
make them wait on each other's row locks) while a puller walks the cursor in small pages.
Every write transaction sleeps a little between taking its sequence numbers and
committing, so transactions numbered close together commit at visibly different moments:
exactly when a naive ``seq > cursor`` reader skips a change forever.

The puller must end with every committed record at its committed version, having seen no
change twice, and every record created must have reached it.
"""
import random
import threading
import time
import uuid

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from server.extensions import db
from sync import engine, registry
from sync.models import SyncRecord

WRITERS = ("wangge", "zhuren", "zhifa1", "zhifa2")
BATCHES = 25


@pytest.fixture
def slow_commits():
    """Widen the window between taking sequence numbers and committing: a push numbers its
    records in its last statements, so a pause before every commit falls right there."""
    def before_commit(session):
        time.sleep(random.random() * 0.004)
    event.listen(Session, "before_commit", before_commit)
    yield
    event.remove(Session, "before_commit", before_commit)


def _writer(app, user_id, device_id, shared, created, errors, seed):
    rnd = random.Random(seed)
    try:
        with app.app_context():
            from server.models import User
            for _ in range(BATCHES):
                user = db.session.get(User, user_id)  # a fresh session per batch, as per request
                ops = []
                for _ in range(rnd.randint(1, 5)):
                    if rnd.random() < 0.3:
                        rid = rnd.choice(shared)
                        ops.append({"op_id": str(uuid.uuid4()), "entity": "probe", "id": rid, "op": "upsert",
                                    "base_version": None, "data": {"description": f"{device_id} {rnd.random()}"}})
                    else:
                        rid = str(uuid.uuid4())
                        ops.append({"op_id": str(uuid.uuid4()), "entity": "probe", "id": rid, "op": "upsert",
                                    "base_version": None, "data": {"title": f"并发 {rid[:8]}"}})
                results = engine.push(user, device_id, ops)
                for op, r in zip(ops, results):
                    assert r["status"] in ("applied", "conflict"), r
                    if op["id"] not in shared:
                        created.append(op["id"])
                db.session.remove()
    except BaseException as e:  # reported by the main thread
        errors.append(e)


def _puller(app, user_id, stop, seen, errors):
    try:
        with app.app_context():
            from server.models import User
            cursor, rnd = 0, random.Random(7)
            while True:
                finished = stop.is_set()  # read BEFORE the pull: the last pulls see everything
                user = db.session.get(User, user_id)
                page = engine.pull(user, cursor, rnd.randint(1, 15))
                db.session.remove()  # a fresh session per pull, as each HTTP request has
                for c in page["changes"]:
                    key = (c["id"], c["version"])
                    assert key not in seen, f"change sent twice: {key}"
                    seen[key] = c
                assert page["cursor"] >= cursor
                cursor = page["cursor"]
                if finished and not page["has_more"]:
                    return
    except BaseException as e:
        errors.append(e)


@pytest.mark.parametrize("round_", range(3))
def test_a_puller_misses_nothing_while_writers_commit_concurrently(app, demo, slow_commits, round_):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite runs one writer at a time, so there is no race to lose")
    zhuren = demo["zhuren"]
    shared = [str(uuid.uuid4()) for _ in range(4)]
    engine.push(zhuren, "setup", [{"op_id": str(uuid.uuid4()), "entity": "probe", "id": rid, "op": "upsert",
                                   "base_version": None, "data": {"title": "共享", "jurisdiction_code": "130131100201"}}
                                  for rid in shared])
    users = {name: demo[name].id for name in WRITERS}
    puller_id = zhuren.id
    db.session.remove()

    created, seen, errors, stop = [], {}, [], threading.Event()
    puller = threading.Thread(target=_puller, args=(app, puller_id, stop, seen, errors))
    writers = [threading.Thread(target=_writer, args=(app, uid, f"dev-{name}-{round_}", shared, created, errors,
                                                       round_ * 100 + i))
               for i, (name, uid) in enumerate(users.items())]
    puller.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join(120)
    stop.set()
    puller.join(120)
    assert not puller.is_alive() and not any(t.is_alive() for t in writers)
    if errors:
        raise errors[0]

    # What the puller assembled (last version of each record) is what the database holds.
    latest = {}
    for (rid, version), c in seen.items():
        if version > latest.get(rid, (0, None))[0]:
            latest[rid] = (version, c)
    stored = {r.id: r for r in db.session.scalars(db.select(SyncRecord))}
    assert set(created) <= set(latest), f"{len(set(created) - set(latest))} created records never pulled"
    assert set(latest) == set(stored)
    for rid, rec in stored.items():
        version, change = latest[rid]
        assert (version, change["data"]) == (rec.version, rec.data), rid
    assert len(created) > 100


def test_a_push_running_its_hooks_does_not_hold_up_other_writers(app, demo):
    """The counter row is taken only after the hooks: a push whose hooks are slow (audit,
    vision, notifications) must not stop another device's push from committing meanwhile."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite runs one writer at a time")
    zhuren_id, wangge_id = demo["zhuren"].id, demo["wangge"].id
    db.session.remove()
    in_hook, release, errors, done = threading.Event(), threading.Event(), [], {}

    def hook(entity_type, record, ctx):
        if (record.data or {}).get("title") == "慢":
            in_hook.set()
            assert release.wait(30), "never released"

    def push(user_id, device_id, title):
        try:
            with app.app_context():
                from server.models import User
                user = db.session.get(User, user_id)
                results = engine.push(user, device_id, [{"op_id": str(uuid.uuid4()), "entity": "probe",
                                                         "id": str(uuid.uuid4()), "op": "upsert",
                                                         "base_version": None, "data": {"title": title}}])
                done[title] = (results[0]["status"], time.monotonic())
                db.session.remove()
        except BaseException as e:
            errors.append(e)

    registry.after_apply.append(hook)
    try:
        slow = threading.Thread(target=push, args=(zhuren_id, "dev-slow", "慢"))
        slow.start()
        assert in_hook.wait(30)
        fast = threading.Thread(target=push, args=(wangge_id, "dev-fast", "快"))
        fast.start()
        fast.join(10)
        finished_while_blocked = not fast.is_alive()
        release.set()
        slow.join(30)
        fast.join(30)
    finally:
        release.set()
        registry.after_apply.remove(hook)
    if errors:
        raise errors[0]
    assert finished_while_blocked, "the other push waited for the slow push's hooks"
    assert done["快"][0] == done["慢"][0] == "applied"
    assert done["快"][1] < done["慢"][1]
    # Numbered in commit order: the fast push committed first, so its number is lower.
    seqs = {r.data["title"]: r.seq for r in db.session.scalars(db.select(SyncRecord).where(SyncRecord.entity == "probe"))}
    assert seqs["快"] < seqs["慢"]
