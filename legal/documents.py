"""Enforcement documents (执法文书): draft from a case, edit, 法制审核, sign, issue.

Workflow::

    draft ──(inspector edits)──> draft
    draft ──submit legal review──> under_legal_review ──approve──> (reviewed) ──sign──> signed ──issue──> issued
          └───────────────────── sign (kinds that are not major) ──────────┘       └─ return ─> draft

* Inspectors draft and edit; supervisors sign and issue; a major decision (行政处罚决定书, or any
  document drafted with ``major: true``) needs 法制审核 by a supervisor other than the signer.
* Signing and issuing check every cited clause against the library (exists and current).
* Issuing takes the next 文号, renders the PDF, stores it with its SHA-256, records the step
  in the case's audit chain (``_record_audit``) and hands the document to the inspector's
  device (``_sync_to_device``). An issued document never changes (409).

The case itself (an inspection or a hazard, synced records of other modules) arrives as an
explicit payload: this module does not read the sync tables.
"""
import base64
import binascii
import hashlib
import io
import logging

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select

from server.clock import utcnow
from server.errors import Conflict, Forbidden, Invalid, NotFound
from server.extensions import db
from server.models import Enterprise, User
from server.models.jurisdiction import covers

from . import library, matching, numbering, render
from .citations import format_ref, normalise_ref
from .kinds import KINDS, PREREQUISITES
from .models import EnforcementDocument

log = logging.getLogger(__name__)

DRAFT, UNDER_REVIEW, SIGNED, ISSUED = "draft", "under_legal_review", "signed", "issued"
EDITABLE_FIELDS = ("party", "inspected_at", "place", "facts", "findings", "measures", "penalty", "deadline",
                   "evidence", "basis", "recheck_result", "reference_number")


# ---- hooks for other modules (one call site each) ----------------------------------------

def _record_audit(document, action, user):
    """Append ``action`` on ``document`` to its case's audit chain (执法全过程记录).

    Does nothing yet: the integrator wires this one call site to the audit log of the
    inspection workflow (branch ``loops``), passing ``document.pdf_sha256`` on "issue".
    """


def _waiting(document, user, *, legal_review=False):
    """A document now waits for a supervisor: 法制审核, or 签批. Push is a nudge; the console lists it too."""
    from push.delivery import message
    from push.triggers import notify_supervisors_after_commit
    exclude = {user.id}
    if not legal_review and document.legal_reviewed_by:
        exclude.add(document.legal_reviewed_by)  # who reviewed may not also sign
    party = (document.fields.get("party") or {}).get("name") or ""
    notify_supervisors_after_commit(document.jurisdiction_code, message(
        "signature_needed", "文书待法制审核" if legal_review else "文书待签批",
        f"{KINDS[document.kind].name} {party}".strip(), f"/console/#/documents/{document.id}",
        tag=f"document-{document.id}"), exclude)


def _sync_to_device(document, user):
    """Hand an issued document to the devices (a read-only synced ``document`` record)."""
    from sync.engine import server_write
    from .synced import record_for
    server_write(user, "document", document.id, record_for(document, KINDS[document.kind].name), create=True)


# ---- reading ----------------------------------------------------------------------------

def get(document_id, user) -> EnforcementDocument:
    doc = db.session.get(EnforcementDocument, document_id)
    if doc is None or not covers(user.jurisdiction_code, doc.jurisdiction_code):
        raise NotFound("没有这份文书，或不在您的辖区内。")
    return doc


def for_case(case_entity, case_id, user):
    rows = db.session.scalars(select(EnforcementDocument).where(
        EnforcementDocument.case_entity == case_entity, EnforcementDocument.case_id == case_id)
        .order_by(EnforcementDocument.created_at)).all()
    return [d for d in rows if covers(user.jurisdiction_code, d.jurisdiction_code)]


def cited_refs(fields: dict) -> list:
    refs = [r for x in fields.get("findings") or [] for key in ("violated", "penalty") for r in x.get(key, [])]
    return refs + list(fields.get("basis") or [])


def citation_problems(doc) -> list:
    return library.check_refs(doc.cited_clauses)


# ---- drafting ---------------------------------------------------------------------------

def _finding(raw: dict) -> dict:
    """A finding with its clauses: explicit refs, else the curated map for its hazard/checklist code."""
    text = (raw.get("text") or "").strip()
    mapped = {}
    if raw.get("hazard_code"):
        mapped = matching.clauses_for_hazard(raw["hazard_code"])
        if not mapped["violation"]:
            raise Invalid(f"“{mapped['name']}”不是违法行为，不能作为文书的违法事实。")
        text = text or mapped["summary"]
    elif raw.get("checklist_item"):
        mapped = matching.clauses_for_checklist_item(raw["checklist_item"])
        text = text or f"检查项“{mapped['text']}”不符合要求"
    if not text:
        raise Invalid("每条发现的问题都要有文字描述。", errors={"findings": ["缺少 text"]})
    out = {"text": text}
    for key in ("hazard_code", "checklist_item"):
        if raw.get(key):
            out[key] = raw[key]
    for key in ("violated", "penalty"):
        refs = raw.get(key) if raw.get(key) is not None else mapped.get(key, [])
        out[key] = [_canonical(r) for r in refs]
    return out


def _canonical(ref: dict) -> dict:
    """Full law name when the library knows the law; otherwise kept as given (the check refuses it later)."""
    try:
        ref = normalise_ref(ref)
    except (KeyError, TypeError, ValueError):
        raise Invalid(f"法条引用格式有误：{ref!r}") from None
    try:
        ref["law"] = library.resolve_law(ref["law"]).name
    except (NotFound, Invalid):
        pass
    return ref


def _evidence(items) -> list:
    """Evidence photos: a caption, the blob's SHA-256 and optionally the image itself (base64)."""
    out = []
    for i, ev in enumerate(items or [], 1):
        ev = dict(ev)
        if ev.get("image_b64"):
            try:
                with Image.open(io.BytesIO(base64.b64decode(ev["image_b64"], validate=True))) as img:
                    img.verify()
                    fmt = img.format
            except (binascii.Error, ValueError, UnidentifiedImageError, OSError):
                raise Invalid(f"证据照片{i}不是可识别的图片。", errors={"evidence": [f"第{i}张图片无法识别"]}) from None
            if fmt not in ("JPEG", "PNG"):
                raise Invalid(f"证据照片{i}须为 JPEG 或 PNG。", errors={"evidence": [f"第{i}张为 {fmt}"]})
        out.append(ev)
    return out


def _officers(ids) -> list:
    if not isinstance(ids, list) or len(ids) != 2 or len(set(map(str, ids))) != 2:
        raise Invalid("文书须由两名执法人员署名。", errors={"inspectors": ["需要两名不同的执法人员"]})
    officers = []
    for ident in ids:
        user = (db.session.get(User, ident) if isinstance(ident, int)
                else db.session.scalar(select(User).where(User.username == str(ident))))
        if user is None or not user.enforcement_id:
            raise Invalid(f"执法人员 {ident} 不存在或没有执法证号。", errors={"inspectors": [f"{ident} 无执法证号"]})
        officers.append({"user_id": user.id, "name": user.display_name, "enforcement_id": user.enforcement_id})
    return officers


def _party(enterprise_id, given):
    if enterprise_id:
        e = db.session.get(Enterprise, enterprise_id)
        if e is None:
            raise Invalid("企业不存在。", errors={"enterprise_id": ["未知企业"]})
        party = {"name": e.name, "address": e.address, "legal_representative": e.legal_representative,
                 "credit_code": e.credit_code}
        party.update({k: v for k, v in (given or {}).items() if v})
        return party, e.jurisdiction_code
    if not given or not given.get("name"):
        raise Invalid("缺少当事人：给出 enterprise_id 或 party。", errors={"party": ["缺少当事人"]})
    return dict(given), None


def _check_order(kind, case_entity, case_id):
    rule = PREREQUISITES.get(kind)
    if rule is None:
        return None
    kinds, statuses, message = rule
    earlier = db.session.scalars(select(EnforcementDocument).where(
        EnforcementDocument.case_entity == case_entity, EnforcementDocument.case_id == case_id,
        EnforcementDocument.kind.in_(kinds), EnforcementDocument.status.in_(statuses))
        .order_by(EnforcementDocument.issued_at.desc())).first()
    if earlier is None:
        raise Conflict(message)
    return earlier


def draft(user, *, kind, case_entity, case_id, inspectors, enterprise_id=None, party=None, case_status=None,
          place=None, inspected_at=None, facts="", findings=(), measures=None, penalty=None, deadline=None,
          evidence=(), basis=(), recheck_result=None, major=False, authority=None) -> EnforcementDocument:
    """Draft a document of ``kind`` for a case; clauses come from the findings (curated or explicit)."""
    if kind not in KINDS:
        raise Invalid(f"未知文书种类 {kind}。", errors={"kind": [f"可选：{', '.join(KINDS)}"]})
    spec = KINDS[kind]
    if kind != "inspection_record" and case_status != "approved":
        # Documents that act on findings are drafted only once the case passed review.
        raise Conflict("案件尚未审核通过，不能起草该文书。")
    earlier = _check_order(kind, case_entity, case_id)
    party, jurisdiction = _party(enterprise_id, party)
    jurisdiction = jurisdiction or user.jurisdiction_code
    if not covers(user.jurisdiction_code, jurisdiction):
        raise Forbidden("该企业不在您的辖区内。")
    findings = [_finding(f) for f in findings or []]
    if spec.needs_clauses and not any(f["violated"] for f in findings):
        raise Invalid(f"{spec.name}须写明违法事实及其违法依据。", errors={"findings": ["至少一条带违法依据的问题"]})
    if kind in ("penalty_notice", "penalty_decision") and not penalty:
        raise Invalid("处罚文书须写明处罚内容。", errors={"penalty": ["必填"]})
    if kind in ("rectification_order", "onsite_measures") and not measures:
        raise Invalid(f"{spec.name}须写明整改要求或处理措施。", errors={"measures": ["必填"]})
    authority = authority or (user.organisation.name if user.organisation else "应急管理局")
    fields = {"party": party, "place": place or party.get("address"), "inspected_at": inspected_at,
              "inspectors": _officers(list(inspectors or [])), "facts": facts, "findings": findings,
              "measures": measures, "penalty": penalty, "deadline": deadline, "evidence": _evidence(evidence),
              "basis": [_canonical(r) for r in basis or []], "recheck_result": recheck_result,
              "reference_number": earlier.number if earlier is not None and kind == "recheck_opinion" else None}
    now = utcnow()
    doc = EnforcementDocument(case_entity=case_entity, case_id=str(case_id), enterprise_id=enterprise_id,
                              jurisdiction_code=jurisdiction, kind=kind, status=DRAFT, major=bool(major or spec.major),
                              authority=authority, authority_abbr=numbering.authority_abbr(authority),
                              fields=fields, cited_clauses=cited_refs(fields), drafted_by=user.id,
                              created_at=now, updated_at=now)
    db.session.add(doc)
    db.session.flush()
    _record_audit(doc, "draft", user)
    if not doc.major:
        _waiting(doc, user)
    db.session.commit()
    return doc


# ---- changing ---------------------------------------------------------------------------

def _refuse_if_issued(doc):
    if doc.status == ISSUED:
        raise Conflict(f"文书{doc.number}已签发，不可更改。")


def update(doc, user, changes: dict, version=None) -> EnforcementDocument:
    """Edit a draft's fields (inspectors only, before legal review or signing)."""
    _refuse_if_issued(doc)
    if doc.status != DRAFT:
        raise Conflict("只有草稿可以修改；已提交审核或已签批的文书须退回后再改。")
    if version is not None and version != doc.version:
        raise Conflict(f"文书已被他人修改（当前版本 {doc.version}），请刷新后再改。")
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise Invalid("这些字段不能修改：" + "、".join(sorted(unknown)))
    fields = dict(doc.fields)
    for key, value in changes.items():
        if key == "findings":
            value = [_finding(f) for f in value or []]
        elif key == "basis":
            value = [_canonical(r) for r in value or []]
        elif key == "evidence":
            value = _evidence(value)
        fields[key] = value
    doc.fields, doc.cited_clauses = fields, cited_refs(fields)
    doc.version += 1
    doc.edited_by, doc.updated_at = user.id, utcnow()
    _record_audit(doc, "edit", user)
    db.session.commit()
    return doc


def legal_review(doc, user, action, opinion=None) -> EnforcementDocument:
    """法制审核: ``submit`` (inspector: draft -> under review), ``approve`` or ``return`` (supervisor)."""
    _refuse_if_issued(doc)
    if action == "submit":
        if doc.status != DRAFT:
            raise Conflict("只有草稿可以提交法制审核。")
        doc.status, doc.legal_review_submitted_by = UNDER_REVIEW, user.id
        doc.legal_reviewed_by = doc.legal_reviewed_at = doc.legal_review_opinion = None
    elif action in ("approve", "return"):
        if user.role != "supervisor":
            raise Forbidden("法制审核须由审核人员进行。")
        if doc.status != UNDER_REVIEW:
            raise Conflict("文书不在法制审核中。")
        if action == "return":
            if not opinion:
                raise Invalid("退回须写明审核意见。", errors={"opinion": ["必填"]})
            doc.status = DRAFT
        else:
            problems = citation_problems(doc)
            if problems:
                raise Invalid("引用的法条有误，不能通过审核：" + "；".join(problems), errors={"cited_clauses": problems})
            doc.legal_reviewed_by, doc.legal_reviewed_at = user.id, utcnow()
        doc.legal_review_opinion = opinion
    else:
        raise Invalid("action 只能是 submit、approve 或 return。")
    doc.updated_at = utcnow()
    _record_audit(doc, f"legal_review_{action}", user)
    if action == "submit":
        _waiting(doc, user, legal_review=True)
    elif action == "approve":
        _waiting(doc, user)
    db.session.commit()
    return doc


def sign(doc, user) -> EnforcementDocument:
    """负责人签批 by a supervisor; a major decision must have passed 法制审核 by someone else."""
    _refuse_if_issued(doc)
    if user.role != "supervisor":
        raise Forbidden("文书须由审核人员签批。")
    if doc.major:
        if doc.status != UNDER_REVIEW or doc.legal_reviewed_by is None:
            raise Conflict("重大决定须先通过法制审核再签批。")
        if doc.legal_reviewed_by == user.id:
            raise Forbidden("法制审核人与签批人不能是同一人。")
    elif doc.status != DRAFT:
        raise Conflict("只有草稿可以签批。")
    problems = citation_problems(doc)
    if problems:
        raise Invalid("引用的法条有误，不能签批：" + "；".join(problems), errors={"cited_clauses": problems})
    doc.status, doc.signed_by, doc.signed_at = SIGNED, user.id, utcnow()
    doc.updated_at = doc.signed_at
    _record_audit(doc, "sign", user)
    db.session.commit()
    return doc


def issue(doc, user) -> EnforcementDocument:
    """签发: number, render, hash, store; afterwards the document is immutable."""
    _refuse_if_issued(doc)
    if user.role != "supervisor":
        raise Forbidden("文书须由审核人员签发。")
    if doc.status != SIGNED:
        raise Conflict("文书签批后才能签发。")
    problems = citation_problems(doc)
    if problems:
        raise Invalid("引用的法条不存在或已失效，不能签发：" + "；".join(problems), errors={"cited_clauses": problems})
    now = utcnow()
    kind = KINDS[doc.kind]
    try:
        doc.year = now.year
        doc.seq = numbering.allocate(doc.authority, doc.kind, doc.year)
        doc.number = numbering.format_number(doc.authority_abbr, kind.abbr, doc.year, doc.seq)
        doc.status, doc.issued_by, doc.issued_at, doc.updated_at = ISSUED, user.id, now, now
        pdf = render_pdf(doc)
        doc.pdf, doc.pdf_sha256 = pdf, hashlib.sha256(pdf).hexdigest()
        _record_audit(doc, "issue", user)
        db.session.commit()
    except Exception:
        db.session.rollback()  # the number goes back with the transaction: no gap
        raise
    log.info("issued %s %s for %s %s (sha256 %s)", kind.name, doc.number, doc.case_entity, doc.case_id, doc.pdf_sha256)
    _sync_to_device(doc, user)
    return doc


# ---- output -----------------------------------------------------------------------------

def _signer_name(doc):
    signer = db.session.get(User, doc.signed_by) if doc.signed_by else None
    return signer.display_name if signer else None


def render_pdf(doc) -> bytes:
    return render.to_pdf(render.layout(doc.to_dict(), _signer_name(doc)), title=KINDS[doc.kind].name)


def pdf(doc) -> bytes:
    """The issued PDF verbatim; a draft renders fresh (without a number)."""
    return doc.pdf if doc.status == ISSUED else render_pdf(doc)


def docx(doc) -> bytes:
    return render.to_docx(render.layout(doc.to_dict(), _signer_name(doc)))


def describe(doc) -> dict:
    out = doc.to_dict()
    out["citations"] = [format_ref(r) for r in doc.cited_clauses]
    out["citation_problems"] = citation_problems(doc) if doc.status != ISSUED else []
    return out
