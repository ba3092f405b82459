"""``flask loops sweep``: flag overdue 处置单 and escalate them."""
import click
from flask.cli import AppGroup

loops_cli = AppGroup("loops", help="隐患与执法闭环 Hazard and inspection loops.")


@loops_cli.command("sweep")
@click.option("--now", default=None, help="ISO time to sweep as of (default: the server clock)")
def sweep(now):
    """Flag overdue work orders and escalate them to the supervisors above."""
    from datetime import datetime

    from .escalation import _parse, sweep as run
    when = None
    if now:
        try:
            when = _parse(now)
        except ValueError:
            raise click.ClickException(f"--now {now!r} 不是 ISO 时间") from None
    counts = run(when)
    click.echo(f"逾期 {counts['overdue']} 件，新标记 {counts['flagged']} 件，升级督办 {counts['escalated']} 件")


def init_app(app):
    app.cli.add_command(loops_cli)
