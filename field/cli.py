"""``flask positions purge``: delete GPS fixes older than POSITION_RETENTION_DAYS."""
import click
from flask.cli import AppGroup

positions = AppGroup("positions", help="位置数据 Team positions.")


@positions.command("purge")
def purge():
    """Delete fixes older than the retention period (run daily from cron)."""
    from .positions import purge as do_purge
    n, latest = do_purge()
    click.echo(f"deleted {n} fixes and {latest} stale latest positions")


def init_app(app):
    app.cli.add_command(positions)
