"""Migrations match the models; the CLI creates users and seeds the demo county."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from server.extensions import db
from server.models import User


def test_models_and_migrations_agree(app):
    # The schema under test was built by `flask db upgrade` (see conftest).
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
    assert diff == [], f"models differ from migrations; run `flask db migrate`: {diff}"


def test_users_create_cli(runner, demo):
    r = runner.invoke(args=["users", "create", "--username", "newbie", "--password", "secret-pass-1",
                            "--role", "grid_member", "--jurisdiction", "130131102201"])
    assert r.exit_code == 0, r.output
    u = db.session.query(User).filter_by(username="newbie").one()
    assert u.role == "grid_member" and u.check_password("secret-pass-1")


def test_users_create_cli_refuses_unknown_jurisdiction(runner, demo):
    r = runner.invoke(args=["users", "create", "--username", "x1", "--password", "secret-pass-1",
                            "--role", "rescuer", "--jurisdiction", "999999999999"])
    assert r.exit_code != 0 and "不存在" in r.output


def test_demo_seed_cli_is_idempotent_with_if_empty(runner, app):
    r = runner.invoke(args=["demo", "seed", "--if-empty"])
    assert r.exit_code == 0 and "zhifa1" in r.output
    r = runner.invoke(args=["demo", "seed", "--if-empty"])
    assert "nothing to do" in r.output
    roles = {u.role for u in db.session.query(User)}
    assert roles == {"inspector", "grid_member", "info_officer", "rescuer", "supervisor", "admin"}
