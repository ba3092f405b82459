"""Flask CLI: ``users create``, ``demo seed``, ``worker``, ``schedule``."""
import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from .extensions import db
from .models import ROLES, Jurisdiction, Organisation, User

users = AppGroup("users", help="用户管理 Manage users.")
demo = AppGroup("demo", help="演示数据 Demo data.")


@users.command("create")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--jurisdiction", "jurisdiction_code", required=True, help="12-digit division code")
@click.option("--name", "display_name", default=None)
@click.option("--organisation", default=None, help="organisation name (created if missing)")
@click.option("--enforcement-id", default=None)
def create_user(username, password, role, jurisdiction_code, display_name, organisation, enforcement_id):
    """Create a user with one role in a jurisdiction."""
    from .accounts import create_user as create
    from .errors import DomainError
    try:
        user = create(username=username, password=password, role=role, jurisdiction_code=jurisdiction_code,
                      display_name=display_name, organisation_name=organisation, enforcement_id=enforcement_id)
    except DomainError as e:
        raise click.ClickException(e.detail) from None
    click.echo(f"created user {user.username} (id {user.id}, role {user.role}, jurisdiction {user.jurisdiction_code})")


@demo.command("seed")
@click.option("--if-empty", is_flag=True, help="do nothing when users already exist")
def seed(if_empty):
    """Seed a realistic demo county: towns, villages, a user of each role, enterprises."""
    from .demo import DEMO_PASSWORD, seed_demo
    if if_empty and db.session.scalar(select(User.id).limit(1)) is not None:
        click.echo("demo seed: users exist, nothing to do")
        return
    created = seed_demo()
    click.echo("演示数据已生成 Demo data ready. Logins (password for all: %s):" % DEMO_PASSWORD)
    for u in created:
        click.echo(f"  {u.username:<12} {u.role:<12} {u.display_name}")


@click.command("worker")
@click.option("--burst", is_flag=True, help="exit when the queues are empty")
@click.argument("queues", nargs=-1)
def worker(burst, queues):
    """Run an RQ worker on the configured (or embedded) Redis."""
    from rq import Worker

    from .queue import QUEUES, get_redis
    w = Worker(list(queues or QUEUES), connection=get_redis(current_app))
    w.work(burst=burst, with_scheduler=True)


def init_app(app):
    app.cli.add_command(users)
    app.cli.add_command(demo)
    app.cli.add_command(worker)
    from .schedule import schedule_command
    app.cli.add_command(schedule_command)


__all__ = ["init_app", "Jurisdiction", "Organisation"]
