"""Rendering an enforcement document: one layout (a list of blocks) built from the document,
drawn as PDF (reportlab, the WenQuanYi Zen Hei font embedded so that Chinese shows on any
reader) and as editable DOCX (python-docx).

Blocks: ("title", text) ("number", text) ("field", label, value) ("heading", text)
("para", text) ("image", png/jpeg bytes, caption) ("signatures", [lines]).
"""
import base64
import binascii
import io
import threading

from .citations import format_ref
from .kinds import KINDS, rights_text

FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
FONT = "WenQuanYiZenHei"
_font_lock = threading.Lock()


def _cn_date(value):
    if not value:
        return "____年__月__日"
    text = str(value)[:10]
    try:
        y, m, d = text.split("-")
        return f"{int(y)}年{int(m)}月{int(d)}日"
    except ValueError:
        return text


def _cn_datetime(value):
    if not value:
        return "____年__月__日__时__分"
    text = str(value)
    date_part = _cn_date(text[:10])
    if len(text) >= 16:
        return f"{date_part}{int(text[11:13])}时{int(text[14:16])}分"
    return date_part


def layout(doc: dict, signer_name=None) -> list:
    """The blocks of one document (``doc`` is ``EnforcementDocument.to_dict()``)."""
    kind = KINDS[doc["kind"]]
    f = doc["fields"]
    party = f.get("party") or {}
    blocks = [("title", doc["authority"]), ("title", kind.name),
              ("number", doc.get("number") or "（文号待签发时编定）")]
    blocks += [("field", "被检查单位（当事人）", party.get("name") or ""),
               ("field", "地址", party.get("address") or ""),
               ("field", "法定代表人（负责人）", party.get("legal_representative") or ""),
               ("field", "统一社会信用代码", party.get("credit_code") or ""),
               ("field", "检查时间", _cn_datetime(f.get("inspected_at"))),
               ("field", "检查场所", f.get("place") or "")]
    for i, officer in enumerate(f.get("inspectors") or [], 1):
        blocks.append(("field", f"执法人员{i}", f"{officer['name']}　执法证号：{officer['enforcement_id']}"))
    if f.get("reference_number"):
        blocks.append(("field", "依据文书", f["reference_number"]))

    findings = f.get("findings") or []
    if doc["kind"] == "inspection_record":
        blocks += [("heading", "检查情况"), ("para", f.get("facts") or "")]
        if findings:
            blocks.append(("heading", "发现的问题"))
            blocks += [("para", f"{i}. {x['text']}") for i, x in enumerate(findings, 1)]
    elif doc["kind"] == "recheck_opinion":
        blocks += [("heading", "复查情况"), ("para", f.get("facts") or ""),
                   ("heading", "复查意见"), ("para", f.get("recheck_result") or f.get("measures") or "")]
    else:
        blocks += [("heading", "违法事实及证据"), ("para", f.get("facts") or "")]
        for i, x in enumerate(findings, 1):
            line = f"{i}. {x['text']}"
            if x.get("violated"):
                line += "，违反了" + "、".join(format_ref(r) for r in x["violated"]) + "的规定"
            blocks.append(("para", line + "。"))
    for i, ev in enumerate(f.get("evidence") or [], 1):
        image = _decode(ev.get("image_b64"))
        caption = f"证据照片{i}：{ev.get('caption') or ''}"
        if ev.get("sha256"):
            caption += f"（SHA-256 {ev['sha256'][:16]}…）"
        blocks.append(("image", image, caption) if image else ("para", caption))

    penalty_refs = [r for x in findings for r in x.get("penalty", [])] + list(f.get("basis") or [])
    if penalty_refs and doc["kind"] not in ("inspection_record", "recheck_opinion"):
        seen, unique = set(), []
        for r in penalty_refs:
            key = format_ref(r)
            if key not in seen:
                seen.add(key)
                unique.append(key)
        blocks += [("heading", "处理依据"), ("para", "依据" + "、".join(unique) + "的规定，")]
    if doc["kind"] in ("rectification_order", "onsite_measures"):
        heading = "责令整改内容" if doc["kind"] == "rectification_order" else "现场处理措施"
        blocks += [("heading", heading), ("para", f.get("measures") or "")]
        if f.get("deadline"):
            blocks.append(("para", f"请于{_cn_date(f['deadline'])}前整改完毕，达到有关法律法规规章和标准规定的要求，"
                                   "并将整改情况书面报告本机关。"))
    if doc["kind"] in ("penalty_notice", "penalty_decision"):
        word = "拟作出" if doc["kind"] == "penalty_notice" else "决定给予"
        blocks += [("heading", "行政处罚"), ("para", f"本机关{word}如下行政处罚：{f.get('penalty') or ''}")]
        if doc["kind"] == "penalty_decision" and f.get("deadline"):
            blocks.append(("para", f"罚款限于{_cn_date(f['deadline'])}前缴至指定银行，逾期不缴纳的，"
                                   "每日按罚款数额的百分之三加处罚款。"))
    if kind.rights:
        blocks += [("heading", "当事人的权利"), ("para", rights_text(kind))]

    names = "　".join(o["name"] for o in f.get("inspectors") or [])
    blocks.append(("signatures", [
        f"执法人员（签名）：{names}",
        "被检查单位负责人（签名）：________________",
        f"负责人审批：{signer_name or '________'}",
        f"{doc['authority']}（印章）",
        _cn_date((doc.get("issued_at") or doc.get("signed_at") or "")[:10] or None),
    ]))
    return blocks


def _decode(data):
    if not data:
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def _register_font():
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    with _font_lock:
        if FONT not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(FONT, FONT_PATH, subfontIndex=0))


def to_pdf(blocks, title="执法文书") -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER, TA_RIGHT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
    from xml.sax.saxutils import escape

    _register_font()
    base = ParagraphStyle("base", fontName=FONT, fontSize=11, leading=18, wordWrap="CJK")
    styles = {
        "title": ParagraphStyle("title", parent=base, fontSize=18, leading=28, alignment=TA_CENTER),
        "number": ParagraphStyle("number", parent=base, alignment=TA_RIGHT),
        "heading": ParagraphStyle("heading", parent=base, fontSize=12, leading=22, spaceBefore=6),
        "para": ParagraphStyle("para", parent=base, firstLineIndent=22),
        "cell": base,
    }
    story, fields = [], []

    def flush_fields():
        if fields:
            table = Table([[Paragraph(escape(a), styles["cell"]), Paragraph(escape(b), styles["cell"])] for a, b in fields],
                          colWidths=[45 * mm, 125 * mm])
            table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                                       ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
            story.extend([table, Spacer(1, 4 * mm)])
            fields.clear()

    for block in blocks:
        if block[0] == "field":
            fields.append((block[1], block[2]))
            continue
        flush_fields()
        kind = block[0]
        if kind in ("title", "number", "heading", "para"):
            story.append(Paragraph(escape(block[1]), styles[kind]))
        elif kind == "image":
            img = Image(io.BytesIO(block[1]))
            scale = min(1.0, (80 * mm) / img.drawWidth, (60 * mm) / img.drawHeight)
            img.drawWidth, img.drawHeight = img.drawWidth * scale, img.drawHeight * scale
            story += [img, Paragraph(escape(block[2]), styles["cell"])]
        elif kind == "signatures":
            story.append(Spacer(1, 8 * mm))
            story += [Paragraph(escape(line), styles["number"] if i >= 3 else styles["cell"])
                      for i, line in enumerate(block[1])]
    flush_fields()
    out = io.BytesIO()
    # invariant=1 makes the bytes depend on the content only (no creation time, no random id),
    # so the issued document's SHA-256 can be reproduced from its content.
    SimpleDocTemplate(out, pagesize=A4, title=title, author="Danbing", leftMargin=20 * mm, rightMargin=20 * mm,
                      topMargin=18 * mm, bottomMargin=18 * mm, invariant=1).build(story)
    return out.getvalue()


def to_docx(blocks) -> bytes:
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    document = Document()
    normal = document.styles["Normal"]
    normal.font.name = "SimSun"
    normal.font.size = Pt(11)
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), "SimSun")  # Word needs the East Asian font named
    table = None
    for block in blocks:
        kind = block[0]
        if kind == "field":
            if table is None:
                table = document.add_table(rows=0, cols=2)
                table.style = "Table Grid"
            cells = table.add_row().cells
            cells[0].text, cells[1].text = block[1], block[2]
            continue
        table = None
        if kind == "title":
            p = document.add_paragraph()
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            run = p.add_run(block[1])
            run.bold, run.font.size = True, Pt(18)
        elif kind == "number":
            p = document.add_paragraph(block[1])
            p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        elif kind == "heading":
            document.add_paragraph().add_run(block[1]).bold = True
        elif kind == "para":
            document.add_paragraph(block[1])
        elif kind == "image":
            document.add_picture(io.BytesIO(block[1]), width=Mm(80))
            document.add_paragraph(block[2])
        elif kind == "signatures":
            for i, line in enumerate(block[1]):
                p = document.add_paragraph(line)
                if i >= 3:
                    p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
