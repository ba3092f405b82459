"""文号 (document numbers): 平应急责改〔2026〕3号 — per issuing authority, kind and year, without
gaps or repeats, also when many documents are issued at once.

A number is taken inside the transaction that issues the document: the counter row is
locked (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite serialises writers anyway), so a
second issuer waits, and a rolled-back issue gives its number back. The unique constraint
on (authority, kind, year, seq) of ``enforcement_documents`` is the last line of defence.
"""
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.extensions import db

from .models import DocumentNumberSequence


def _locked(authority, kind, year):
    return db.session.scalar(select(DocumentNumberSequence).where(
        DocumentNumberSequence.authority == authority, DocumentNumberSequence.kind == kind,
        DocumentNumberSequence.year == year).with_for_update())


def allocate(authority: str, kind: str, year: int) -> int:
    """The next number for (authority, kind, year); call inside the issuing transaction."""
    row = _locked(authority, kind, year)
    if row is None:
        try:
            with db.session.begin_nested():  # two first issues of a year may race to create the row
                db.session.add(DocumentNumberSequence(authority=authority, kind=kind, year=year, last=0))
        except IntegrityError:
            pass
        row = _locked(authority, kind, year)
    row.last += 1
    db.session.flush()
    return row.last


def format_number(authority_abbr: str, kind_abbr: str, year: int, seq: int) -> str:
    return f"{authority_abbr}{kind_abbr}〔{year}〕{seq}号"


def authority_abbr(authority: str) -> str:
    """平山县应急管理局 -> 平应急 (first character of the place + 应急)."""
    place = authority.split("应急管理")[0] if "应急管理" in authority else authority
    return (place[:1] or "应") + "应急"
