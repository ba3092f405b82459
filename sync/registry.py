"""The entity registry: how a domain module plugs a synced entity into the sync engine.

CONTRACT shared by the sync engine (issue #3) and the domain modules (#5 hazards and
inspections, #6 disaster reports, patrols, field reports, #7 vision, #8 documents).
The engine owns storage, versions, idempotency, conflicts and pull; a domain module owns
the meaning of one entity: its fields, who may write which of them, its workflow rules
and the columns it wants indexed.

Every synced record is stored by the engine as one row of ``SyncRecord``
(``sync/models.py``): ``entity``, ``id`` (client UUID), ``version``, ``deleted``, ``data``
(the JSON document) and a fixed set of *promoted*, indexed columns that queries filter on:

    jurisdiction_code, status, owner_id, assignee_id, enterprise_id, level, deadline,
    event_id, occurred_at, title

A domain module fills them from ``data`` with ``EntityType.promote``.

Usage (in a domain module's ``init_app``)::

    from sync import registry
    registry.register(registry.EntityType(
        name="hazard", schema=HazardSchema, promote=promote_hazard,
        workflow_fields={"status", "assignee_id", "review"}, check=check_hazard_write))
"""
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

PROMOTED = ("jurisdiction_code", "status", "owner_id", "assignee_id", "enterprise_id", "level",
            "deadline", "event_id", "occurred_at", "title")


class Rejected(Exception):
    """An op that cannot be applied: schema error, not allowed, workflow rule broken.

    ``errors`` maps field name -> list of messages a person can act on (Chinese).
    ``status`` is the HTTP-like code a direct (non-sync) API would use: 403, 409 or 422.
    """

    def __init__(self, errors: dict, status: int = 422):
        super().__init__(errors)
        self.errors, self.status = errors, status


@dataclass
class WriteContext:
    """What a ``check`` hook sees about one write."""
    user: Any                     # server.models.User
    device_id: Optional[str]
    now: Any                      # server time (naive UTC datetime); device clocks are data only
    op: str                       # "upsert" | "delete"
    old: Optional[dict]           # current server document, None on create
    new: Optional[dict]           # merged document about to be stored (None on delete)
    changed: frozenset = frozenset()  # fields whose value differs from ``old``


@dataclass
class EntityType:
    name: str
    schema: type                                  # marshmallow Schema class for ``data``
    promote: Callable[[dict], dict]               # data -> {promoted column: value}
    # Fields owned by the server and the roles that own them (status, assignee, review
    # outcome). On an overlapping edit the server's value wins; content fields take the
    # later edit. Either way the overwritten value is kept in a conflict record.
    workflow_fields: frozenset = field(default_factory=frozenset)
    # check(ctx) raises Rejected when the write is not allowed; it may also return a dict
    # of server-side additions to merge into the document (e.g. computed fields).
    check: Optional[Callable[[WriteContext], Optional[dict]]] = None
    # Extra visibility beyond the default (jurisdiction scope, owner, assignee):
    # visible(user) -> SQLAlchemy boolean clause over SyncRecord, or None.
    visible: Optional[Callable[[Any], Any]] = None
    # Which roles may create this entity at all (None: any authenticated role).
    create_roles: Optional[frozenset] = None
    # Roles that own the workflow fields: on an overlapping edit their later value wins
    # like a content edit; anyone else's overlapping workflow edit loses to the server's.
    workflow_roles: frozenset = frozenset({"supervisor", "admin"})


_REGISTRY: dict = {}
# Hooks called as fn(entity_type, record, ctx) after an op is applied, inside the same
# transaction (audit log entries, blob references, enqueueing jobs after commit, ...).
# A hook may complete the record it is given (set ``data`` and promoted columns together):
# in a push the records are written after the hooks, so such changes are part of the same
# change (no new version). A hook may create other records (``engine.server_write``) but
# not change another record of the same push (``engine.get_record`` shows them).
after_apply: list = []
# Hooks called once per transaction as fn([(entity_type, record, ctx), ...]) after the
# per-op hooks, in the order the ops were applied: for work that reads or locks rows, so a
# 100-op push costs one query instead of a hundred (the audit chain heads, blob references).
after_apply_many: list = []


def register(entity_type: EntityType):
    _REGISTRY[entity_type.name] = entity_type
    return entity_type


def get(name: str) -> Optional[EntityType]:
    return _REGISTRY.get(name)


def names():
    return sorted(_REGISTRY)
