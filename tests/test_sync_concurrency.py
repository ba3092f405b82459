"""Gap-free pull under concurrent writers (PostgreSQL).

Several writer threads push batches (new records, and edits of a few shared records that
make them wait on each other's row locks) while a puller walks the cursor in small pages.
A hook inside every write transaction sleeps a little after the sequence numbers are
taken, so transactions numbered close together commit at visibly different moments:
exactly when a naive ``seq > cursor`` reader skips a change forever.

The puller must end with every committed record at its committed version, having seen no
change twice, and every record created must have reached it.
"""
import random
import threading
import time
import uuid

import pytest

from server.extensions import db
from sync import engine, registry
from sync.models import SyncRecord

WRITERS = ("wangge", "zhuren", "zhifa1", "zhifa2")
BATCHES = 25


@pytest.fixture
def slow_commits():
    """Widen the window between taking sequence numbers and committing."""
    def hook(entity_type, record, ctx):
        time.sleep(random.random() * 0.004)
    registry.after_apply.append(hook)
    yield
    registry.after_apply.remove(hook)


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
