"""Issued documents as a read-only synced entity, so the inspectors' phones carry them.

An issued 执法文书 is shown to the party on site, often where there is no network; the
phone must already hold it. The server writes one ``document`` record per issued
document (``sync.engine.server_write``); devices pull it like any other record and fetch
the PDF from ``pdf_url`` (its SHA-256 lets them check what they hold). Devices can never
write it.
"""
from marshmallow import Schema, fields

from sync import registry


class DocumentRecordSchema(Schema):
    """执法文书（已签发）: what a device needs to show and verify an issued document."""
    title = fields.String(required=True)
    kind = fields.String(required=True)
    kind_name = fields.String(required=True)
    number = fields.String(required=True)
    case_entity = fields.String(required=True)
    case_id = fields.String(required=True)
    enterprise_id = fields.String(allow_none=True)
    party_name = fields.String(allow_none=True)
    jurisdiction_code = fields.String(required=True)
    status = fields.String(required=True)
    issued_at = fields.String(required=True)
    deadline = fields.String(allow_none=True)
    pdf_sha256 = fields.String(required=True)
    pdf_url = fields.String(required=True)


def _promote(data):
    return {"jurisdiction_code": data["jurisdiction_code"], "status": data["status"], "title": data["title"],
            "enterprise_id": data.get("enterprise_id")}


def _server_only(ctx):
    if ctx.device_id is not None:
        raise registry.Rejected({"entity": ["执法文书由服务器签发后下发，设备上不能创建、修改或删除"]}, 403)


def register():
    registry.register(registry.EntityType(
        name="document", schema=DocumentRecordSchema, promote=_promote, check=_server_only,
        workflow_fields=frozenset({"status"}), create_roles=frozenset({"supervisor"})))


def record_for(doc, kind_name) -> dict:
    party = doc.fields.get("party") or {}
    return {"title": f"{kind_name} {doc.number}", "kind": doc.kind, "kind_name": kind_name, "number": doc.number,
            "case_entity": doc.case_entity, "case_id": doc.case_id, "enterprise_id": doc.enterprise_id,
            "party_name": party.get("name"), "jurisdiction_code": doc.jurisdiction_code, "status": doc.status,
            "issued_at": doc.issued_at.isoformat(), "deadline": doc.fields.get("deadline"),
            "pdf_sha256": doc.pdf_sha256, "pdf_url": f"/api/v1/documents/{doc.id}/pdf"}
