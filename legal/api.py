"""HTTP views: laws, clauses, checklists, enforcement documents. Thin: validate, call, serialise.

    GET   /api/v1/laws/search?q=            keyword search (or a citation)
    GET   /api/v1/laws/cite?c=              one clause by citation
    POST  /api/v1/clauses/suggest           {text, limit, role} -> ranked clauses with passages
    GET   /api/v1/clauses/for-hazard/<code> curated 违法依据/处罚依据 of a hazard code
    GET   /api/v1/clauses/for-checklist-item/<code>
    GET   /api/v1/checklists, /api/v1/checklists/<code>
    POST  /api/v1/documents                 draft from a case (inspectors)
    GET   /api/v1/documents?case_entity=&case_id=
    GET   /api/v1/documents/<id>, PATCH (edit a draft; inspectors)
    POST  /api/v1/documents/<id>/legal-review {action: submit|approve|return, opinion}
    POST  /api/v1/documents/<id>/sign, /issue (supervisors)
    GET   /api/v1/documents/<id>/pdf, /docx
"""
from urllib.parse import quote

from flask import Blueprint, Response, g, request
from marshmallow import Schema, fields, validate

from server.auth.decorators import require_auth
from server.errors import Forbidden, Invalid
from server.http import load

from . import checklists, documents, library, matching
from .kinds import KINDS

bp = Blueprint("legal", __name__, url_prefix="/api/v1")


class RefSchema(Schema):
    law = fields.String(required=True, validate=validate.Length(1, 200))
    article = fields.Integer(required=True, validate=validate.Range(1, 9999))
    paragraph = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(1, 50))
    item = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(1, 50))


class FindingSchema(Schema):
    text = fields.String(load_default="", validate=validate.Length(max=2000))
    hazard_code = fields.String(load_default=None, allow_none=True)
    checklist_item = fields.String(load_default=None, allow_none=True)
    violated = fields.List(fields.Nested(RefSchema), load_default=None, allow_none=True)
    penalty = fields.List(fields.Nested(RefSchema), load_default=None, allow_none=True)


class PartySchema(Schema):
    name = fields.String(validate=validate.Length(1, 200))
    address = fields.String(validate=validate.Length(max=300))
    legal_representative = fields.String(allow_none=True, validate=validate.Length(max=50))
    credit_code = fields.String(allow_none=True, validate=validate.Length(max=18))


class EvidenceSchema(Schema):
    caption = fields.String(load_default="", validate=validate.Length(max=500))
    sha256 = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    image_b64 = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2_000_000))


class _Fields(Schema):
    party = fields.Nested(PartySchema, load_default=None, allow_none=True)
    place = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=300))
    inspected_at = fields.String(load_default=None, allow_none=True,
                                 validate=validate.Regexp(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}.*)?$", error="时间格式应为 ISO 8601"))
    facts = fields.String(load_default="", validate=validate.Length(max=10000))
    findings = fields.List(fields.Nested(FindingSchema), load_default=list)
    measures = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=5000))
    penalty = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    deadline = fields.Date(load_default=None, allow_none=True)
    evidence = fields.List(fields.Nested(EvidenceSchema), load_default=list)
    basis = fields.List(fields.Nested(RefSchema), load_default=list)
    recheck_result = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=5000))


class DraftSchema(_Fields):
    kind = fields.String(required=True, validate=validate.OneOf(list(KINDS)))
    case_entity = fields.String(required=True, validate=validate.OneOf(["inspection", "hazard"]))
    case_id = fields.String(required=True, validate=validate.Length(1, 64))
    case_status = fields.String(load_default=None, allow_none=True)
    enterprise_id = fields.String(load_default=None, allow_none=True)
    inspectors = fields.List(fields.Raw(), required=True)
    major = fields.Boolean(load_default=False)
    authority = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 200))


class EditSchema(_Fields):
    version = fields.Integer(load_default=None)


class ReviewSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(["submit", "approve", "return"]))
    opinion = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class SuggestSchema(Schema):
    text = fields.String(required=True, validate=validate.Length(1, 2000))
    limit = fields.Integer(load_default=5, validate=validate.Range(1, 20))
    role = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(["obligation", "penalty"]))


def _dates_to_text(body):
    if body.get("deadline") is not None:
        body["deadline"] = body["deadline"].isoformat()
    return body


# ---- laws and clauses -------------------------------------------------------------------

@bp.get("/laws/search")
@require_auth()
def search_laws():
    return {"items": library.search(request.args.get("q", ""))}


@bp.get("/laws/cite")
@require_auth()
def cite_law():
    return library.cite(request.args.get("c", ""))


@bp.post("/clauses/suggest")
@require_auth()
def suggest_clauses():
    body = load(SuggestSchema())
    return {"items": matching.suggest(body["text"], body["limit"], body["role"])}


@bp.get("/clauses/for-hazard/<code>")
@require_auth()
def clauses_for_hazard(code):
    return matching.clauses_for_hazard(code)


@bp.get("/clauses/for-checklist-item/<code>")
@require_auth()
def clauses_for_checklist_item(code):
    return matching.clauses_for_checklist_item(code)


@bp.get("/checklists")
@require_auth()
def list_checklists():
    return {"items": checklists.list_templates()}


@bp.get("/checklists/<code>")
@require_auth()
def get_checklist(code):
    return checklists.get_template(code)


# ---- documents --------------------------------------------------------------------------

@bp.post("/documents")
@require_auth("inspector")
def draft_document():
    body = _dates_to_text(load(DraftSchema()))
    if body.get("party") is None:
        body.pop("party")
    doc = documents.draft(g.user, **body)
    return documents.describe(doc), 201


@bp.get("/documents")
@require_auth()
def list_documents():
    case_entity, case_id = request.args.get("case_entity"), request.args.get("case_id")
    if not case_entity or not case_id:
        raise Invalid("请给出 case_entity 和 case_id。")
    return {"items": [documents.describe(d) for d in documents.for_case(case_entity, case_id, g.user)]}


@bp.get("/documents/<document_id>")
@require_auth()
def get_document(document_id):
    return documents.describe(documents.get(document_id, g.user))


@bp.patch("/documents/<document_id>")
@require_auth("inspector", "supervisor")
def edit_document(document_id):
    doc = documents.get(document_id, g.user)
    schema = EditSchema(partial=True)
    body = _dates_to_text(load(schema))
    version = body.pop("version", None)
    if g.user.role != "inspector":
        documents._refuse_if_issued(doc)  # an issued document answers 409 to anyone
        raise Forbidden("文书由执法人员修改；审核人员可在法制审核中退回。")
    return documents.describe(documents.update(doc, g.user, body, version))


@bp.post("/documents/<document_id>/legal-review")
@require_auth("inspector", "supervisor")
def review_document(document_id):
    body = load(ReviewSchema())
    doc = documents.get(document_id, g.user)
    return documents.describe(documents.legal_review(doc, g.user, body["action"], body["opinion"]))


@bp.post("/documents/<document_id>/sign")
@require_auth("supervisor")
def sign_document(document_id):
    return documents.describe(documents.sign(documents.get(document_id, g.user), g.user))


@bp.post("/documents/<document_id>/issue")
@require_auth("supervisor")
def issue_document(document_id):
    return documents.describe(documents.issue(documents.get(document_id, g.user), g.user))


def _file(data, mimetype, doc, ext):
    name = f"{doc.number or doc.id}.{ext}"
    return Response(data, mimetype=mimetype, headers={
        "Content-Disposition": f"attachment; filename=document.{ext}; filename*=UTF-8''{quote(name)}",
        **({"X-Content-SHA256": doc.pdf_sha256} if ext == "pdf" and doc.pdf_sha256 else {})})


@bp.get("/documents/<document_id>/pdf")
@require_auth()
def document_pdf(document_id):
    doc = documents.get(document_id, g.user)
    return _file(documents.pdf(doc), "application/pdf", doc, "pdf")


@bp.get("/documents/<document_id>/docx")
@require_auth()
def document_docx(document_id):
    doc = documents.get(document_id, g.user)
    return _file(documents.docx(doc), "application/vnd.openxmlformats-officedocument.wordprocessingml.document", doc, "docx")
