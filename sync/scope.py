"""Who may see which synced records: jurisdiction scope, ownership, assignment, and
whatever an entity adds with ``EntityType.visible``.

The same rule decides pull, the review queue, blob authorization and scope drops, so it
lives here once.
"""
from sqlalchemy import and_, exists, or_, select

from server.extensions import db
from server.models.jurisdiction import covers, scope_prefix

from . import registry
from .models import SyncRecord


def _default_clause(user, columns=SyncRecord):
    prefix = scope_prefix(user.jurisdiction_code)
    return or_(columns.jurisdiction_code.startswith(prefix, autoescape=True),
               columns.owner_id == user.id, columns.assignee_id == user.id)


def visible_clause(user, entity_type_name=None):
    """A boolean clause over ``SyncRecord`` selecting the rows ``user`` may see.

    With ``entity_type_name`` the clause also restricts to that entity.
    """
    if entity_type_name is not None:
        clause = _default_clause(user)
        et = registry.get(entity_type_name)
        extra = et.visible(user) if et is not None and et.visible is not None else None
        if extra is not None:
            clause = or_(clause, extra)
        return and_(SyncRecord.entity == entity_type_name, clause)
    extras = []
    for name in registry.names():
        et = registry.get(name)
        extra = et.visible(user) if et.visible is not None else None
        if extra is not None:
            extras.append(and_(SyncRecord.entity == name, extra))
    return or_(_default_clause(user), *extras)


def _default_can_see(user, jurisdiction_code, owner_id, assignee_id):
    return (covers(user.jurisdiction_code, jurisdiction_code)
            or (owner_id is not None and owner_id == user.id)
            or (assignee_id is not None and assignee_id == user.id))


def can_see(user, record) -> bool:
    """Whether ``user`` may see ``record`` (a SyncRecord) as it is now."""
    if user is None or record is None:
        return False
    if _default_can_see(user, record.jurisdiction_code, record.owner_id, record.assignee_id):
        return True
    et = registry.get(record.entity)
    if et is None or et.visible is None:
        return False
    extra = et.visible(user)
    if extra is None:
        return False
    # Evaluate the entity's clause in the database so the rule is written once.
    db.session.flush()
    return bool(db.session.scalar(select(exists().where(SyncRecord.id == record.id, extra))))


def visible_ids(user, records) -> set:
    """The ids among ``records`` that ``user`` may see, with at most one query."""
    seen, unknown = set(), []
    for r in records:
        if _default_can_see(user, r.jurisdiction_code, r.owner_id, r.assignee_id):
            seen.add(r.id)
        else:
            et = registry.get(r.entity)
            if et is not None and et.visible is not None:
                unknown.append(r.id)
    if unknown:
        seen.update(db.session.scalars(select(SyncRecord.id).where(
            SyncRecord.id.in_(unknown), visible_clause(user))))
    return seen


def was_visible(user, exit_row) -> bool:
    """Whether the scope columns a record had before it moved were visible to ``user``.

    An entity's own ``visible`` clause cannot be evaluated on old columns, so for such
    entities every move counts (the device drops what it may not have had: harmless).
    """
    if _default_can_see(user, exit_row.jurisdiction_code, exit_row.owner_id, exit_row.assignee_id):
        return True
    et = registry.get(exit_row.entity)
    return et is not None and et.visible is not None

