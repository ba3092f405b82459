"""``flask media cleanup`` and ``flask media verify``."""
import json

import click
from flask.cli import AppGroup

media = AppGroup("media", help="照片与语音文件 Media uploads and blobs.")


@media.command("cleanup")
def cleanup():
    """Remove expired unfinished uploads and their bytes."""
    from .uploads import cleanup as run
    click.echo(f"removed {run()} expired upload(s)")


@media.command("verify")
@click.option("--entity", required=True)
@click.option("--id", "record_id", required=True)
def verify(entity, record_id):
    """Re-hash every blob a record refers to; exit 1 unless all are ok."""
    from server.errors import DomainError

    from .evidence import verify as run
    try:
        report = run(entity, record_id)
    except DomainError as e:
        raise click.ClickException(e.detail) from None
    click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    if not report["ok"]:
        raise SystemExit(1)


def init_app(app):
    app.cli.add_command(media)
