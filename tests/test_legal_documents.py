"""Enforcement documents: drafting from a case, the workflow to issue, the PDF/DOCX read back,
order rules, the citation check and gapless numbering (also under concurrency on PostgreSQL)."""
import base64
import hashlib
import io
import re
import subprocess
import threading
from datetime import datetime

import pytest
from sqlalchemy import select

from legal import documents, library
from legal.models import EnforcementDocument
from server.extensions import db
from server.models import Enterprise, User

NOW = datetime(2026, 11, 22, 9, 30)


@pytest.fixture
def legal_env(app, law_library, demo):
    app.config["CLOCK"] = lambda: NOW
    return demo


def _enterprise(name="平山县华兴化工有限公司"):
    return db.session.scalar(select(Enterprise).where(Enterprise.name == name))


def _photo_b64():
    from PIL import Image, ImageDraw
    img = Image.new("RGB", (160, 100), "white")
    ImageDraw.Draw(img).rectangle((20, 20, 140, 80), outline="red", width=4)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _payload(kind, case_id="insp-1", **over):
    body = {
        "kind": kind, "case_entity": "inspection", "case_id": case_id, "case_status": "approved",
        "enterprise_id": _enterprise().id, "inspectors": ["zhifa1", "zhifa2"],
        "inspected_at": "2026-11-20T10:15:00", "place": "平山镇工业园区1号 甲类仓库及生产车间",
        "facts": "执法人员对该公司进行现场检查，发现下列问题，有现场照片为证。",
        "findings": [{"hazard_code": "no_helmet", "text": "生产车间内2名作业人员未佩戴安全帽"},
                     {"hazard_code": "fire_exit_blocked", "text": "甲类仓库东侧安全出口被货物堵塞"}],
        "measures": "立即为作业人员配发安全帽并监督佩戴；清理安全出口处堆放的货物。",
        "deadline": "2026-11-27",
        "evidence": [{"caption": "车间内未戴安全帽的作业人员", "sha256": "ab" * 32, "image_b64": _photo_b64()}],
    }
    body.update(over)
    return body


def _draft(client, auth, kind, user="zhifa1", **over):
    r = client.post("/api/v1/documents", json=_payload(kind, **over), headers=auth.headers(user))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _post(client, auth, doc_id, step, user, **body):
    return client.post(f"/api/v1/documents/{doc_id}/{step}", json=body or None, headers=auth.headers(user))


def _issue(client, auth, doc_id, signer="zhuren"):
    assert _post(client, auth, doc_id, "sign", signer).status_code == 200
    r = _post(client, auth, doc_id, "issue", signer)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _pdf_text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True).stdout.decode()
    return re.sub(r"\s+", "", out)  # CJK lines wrap anywhere; compare without whitespace


def test_rectification_order_from_draft_to_issued_pdf(client, auth, legal_env, tmp_path):
    doc = _draft(client, auth, "rectification_order")
    assert doc["status"] == "draft" and doc["number"] is None and doc["citation_problems"] == []
    assert "《中华人民共和国安全生产法》第九十九条第（五）项" in doc["citations"]

    r = client.patch(f"/api/v1/documents/{doc['id']}", json={"facts": "经现场检查，发现下列问题（附照片）。", "version": 1},
                     headers=auth.headers("zhifa2"))
    assert r.status_code == 200 and r.get_json()["version"] == 2
    stale = client.patch(f"/api/v1/documents/{doc['id']}", json={"facts": "旧版本", "version": 1},
                         headers=auth.headers("zhifa1"))
    assert stale.status_code == 409

    issued = _issue(client, auth, doc["id"])
    assert issued["status"] == "issued" and issued["number"] == "平应急责改〔2026〕1号"

    r = client.get(f"/api/v1/documents/{doc['id']}/pdf", headers=auth.headers("zhifa1"))
    assert r.mimetype == "application/pdf" and hashlib.sha256(r.data).hexdigest() == issued["pdf_sha256"]
    text = _pdf_text(r.data, tmp_path)
    for expected in ("平山县应急管理局", "责令限期整改指令书", "平应急责改〔2026〕1号", "平山县华兴化工有限公司",
                     "91130131MA0A1B2C3D", "平山镇工业园区1号", "李执法", "13013100101", "张执法", "13013100102",
                     "2026年11月20日10时15分", "生产车间内2名作业人员未佩戴安全帽",
                     "《中华人民共和国安全生产法》第四十五条", "《中华人民共和国安全生产法》第九十九条第（五）项",
                     "《中华人民共和国消防法》第六十条第一款第（三）项", "2026年11月27日前整改完毕",
                     "60日内", "行政复议", "6个月内", "行政诉讼", "证据照片1", "执法人员（签名）", "王主任（审核）"):
        assert expected in text, expected

    r = client.get(f"/api/v1/documents/{doc['id']}/docx", headers=auth.headers("zhifa1"))
    from docx import Document
    word = Document(io.BytesIO(r.data))
    body = "".join(p.text for p in word.paragraphs) + "".join(c.text for t in word.tables for row in t.rows for c in row.cells)
    assert "平应急责改〔2026〕1号" in body and "《中华人民共和国安全生产法》第四十五条" in body and "13013100101" in body
    assert len(word.inline_shapes) == 1  # the evidence photo is in the document


def test_issued_document_is_immutable(client, auth, legal_env):
    doc = _draft(client, auth, "rectification_order")
    _issue(client, auth, doc["id"])
    r = client.patch(f"/api/v1/documents/{doc['id']}", json={"facts": "改"}, headers=auth.headers("zhifa1"))
    assert r.status_code == 409 and "已签发" in r.get_json()["detail"]
    assert client.patch(f"/api/v1/documents/{doc['id']}", json={"facts": "改"},
                        headers=auth.headers("zhuren")).status_code == 409
    assert _post(client, auth, doc["id"], "sign", "zhuren").status_code == 409
    assert _post(client, auth, doc["id"], "issue", "zhuren").status_code == 409
    stored = db.session.get(EnforcementDocument, doc["id"])
    assert hashlib.sha256(stored.pdf).hexdigest() == stored.pdf_sha256


def test_penalty_decision_needs_legal_review_by_another_supervisor(client, auth, legal_env, tmp_path):
    doc = _draft(client, auth, "penalty_decision", penalty="罚款人民币贰万元整（￥20,000）。",
                 deadline="2026-12-22")
    assert doc["major"]
    assert _post(client, auth, doc["id"], "sign", "zhuren").status_code == 409      # no 法制审核 yet
    assert _post(client, auth, doc["id"], "legal-review", "zhifa1", action="submit").status_code == 200
    assert client.patch(f"/api/v1/documents/{doc['id']}", json={"facts": "x"},
                        headers=auth.headers("zhifa1")).status_code == 409      # locked while under review
    assert _post(client, auth, doc["id"], "legal-review", "zhifa2", action="approve").status_code == 403
    r = _post(client, auth, doc["id"], "legal-review", "fazhi", action="approve", opinion="事实清楚，依据正确。")
    assert r.status_code == 200 and r.get_json()["legal_reviewed_by"] == legal_env["fazhi"].id
    r = _post(client, auth, doc["id"], "sign", "fazhi")
    assert r.status_code == 403 and "同一人" in r.get_json()["detail"]
    issued = _issue(client, auth, doc["id"], signer="zhuren")
    assert issued["number"] == "平应急罚决〔2026〕1号"
    text = _pdf_text(client.get(f"/api/v1/documents/{doc['id']}/pdf", headers=auth.headers("zhuren")).data, tmp_path)
    assert "行政处罚决定书" in text and "罚款人民币贰万元整" in text and "2026年12月22日前" in text
    assert "60日内" in text and "6个月内" in text


def test_legal_review_can_return_a_draft_with_an_opinion(client, auth, legal_env):
    doc = _draft(client, auth, "penalty_decision", penalty="罚款人民币壹万元整。")
    _post(client, auth, doc["id"], "legal-review", "zhifa1", action="submit")
    assert _post(client, auth, doc["id"], "legal-review", "fazhi", action="return").status_code == 422
    r = _post(client, auth, doc["id"], "legal-review", "fazhi", action="return", opinion="处罚金额依据不足")
    assert r.status_code == 200 and r.get_json()["status"] == "draft"
    assert client.patch(f"/api/v1/documents/{doc['id']}", json={"penalty": "罚款人民币伍千元整。"},
                        headers=auth.headers("zhifa1")).status_code == 200


def test_penalty_notice_states_the_right_to_be_heard(client, auth, legal_env, tmp_path):
    doc = _draft(client, auth, "penalty_notice", penalty="罚款人民币贰万元整。")
    issued = _issue(client, auth, doc["id"])
    text = _pdf_text(client.get(f"/api/v1/documents/{doc['id']}/pdf", headers=auth.headers("zhuren")).data, tmp_path)
    assert issued["number"] == "平应急罚告〔2026〕1号"
    assert "行政处罚告知书" in text and "陈述和申辩" in text and "3日内" in text and "拟作出" in text


def test_document_order_rules(client, auth, legal_env, tmp_path):
    r = client.post("/api/v1/documents", json=_payload("onsite_measures"), headers=auth.headers("zhifa1"))
    assert r.status_code == 409 and "现场检查记录" in r.get_json()["detail"]
    r = client.post("/api/v1/documents", json=_payload("recheck_opinion"), headers=auth.headers("zhifa1"))
    assert r.status_code == 409

    record = _draft(client, auth, "inspection_record", case_status=None, findings=[
        {"text": "生产车间作业人员未佩戴安全帽"}])
    r = client.post("/api/v1/documents", json=_payload("onsite_measures"), headers=auth.headers("zhifa1"))
    assert r.status_code == 409  # the record is drafted but not approved yet
    assert _post(client, auth, record["id"], "sign", "zhuren").status_code == 200
    measures = _draft(client, auth, "onsite_measures", measures="责令立即停止甲类仓库内作业，清理安全出口。")
    other_case = client.post("/api/v1/documents", json=_payload("onsite_measures", case_id="insp-2"),
                             headers=auth.headers("zhifa1"))
    assert other_case.status_code == 409  # the rule is per case

    issued = _issue(client, auth, measures["id"])
    recheck = _draft(client, auth, "recheck_opinion", findings=[],
                     recheck_result="经复查，安全出口已清理，作业人员已配发并佩戴安全帽，整改合格。")
    assert recheck["fields"]["reference_number"] == issued["number"] == "平应急现决〔2026〕1号"
    done = _issue(client, auth, recheck["id"])
    text = _pdf_text(client.get(f"/api/v1/documents/{recheck['id']}/pdf", headers=auth.headers("zhuren")).data, tmp_path)
    assert "整改复查意见书" in text and "平应急现决〔2026〕1号" in text and done["number"] in text
    listed = client.get("/api/v1/documents", query_string={"case_entity": "inspection", "case_id": "insp-1"},
                        headers=auth.headers("zhifa1")).get_json()["items"]
    assert [d["kind"] for d in listed] == ["inspection_record", "onsite_measures", "recheck_opinion"]


def test_drafting_rules_roles_and_scope(client, auth, legal_env):
    h = auth.headers("zhifa1")
    assert client.post("/api/v1/documents", json=_payload("rectification_order", case_status="reported"),
                       headers=h).status_code == 409
    r = client.post("/api/v1/documents", json=_payload("rectification_order", inspectors=["zhifa1"]), headers=h)
    assert r.status_code == 422 and "两名" in r.get_json()["detail"]
    r = client.post("/api/v1/documents", json=_payload("rectification_order", inspectors=["zhifa1", "wangge"]), headers=h)
    assert r.status_code == 422
    r = client.post("/api/v1/documents", json=_payload("rectification_order", findings=[{"hazard_code": "person_down"}]),
                    headers=h)
    assert r.status_code == 422
    assert client.post("/api/v1/documents", json=_payload("rectification_order"),
                       headers=auth.headers("zhuren")).status_code == 403
    r = client.post("/api/v1/documents", json=_payload("rectification_order", deadline="下周"), headers=h)
    assert r.status_code == 422
    not_a_photo = [{"caption": "x", "image_b64": base64.b64encode(b"%PDF-1.4 not an image").decode()}]
    r = client.post("/api/v1/documents", json=_payload("rectification_order", evidence=not_a_photo), headers=h)
    assert r.status_code == 422 and "证据照片1" in r.get_json()["detail"]
    doc = _draft(client, auth, "rectification_order")
    assert client.get(f"/api/v1/documents/{doc['id']}", headers=auth.headers("yuanshi")).status_code == 404
    other = _payload("rectification_order", enterprise_id=_enterprise("元氏县槐阳化工有限公司").id)
    assert client.post("/api/v1/documents", json=other, headers=h).status_code == 403


def test_a_document_citing_a_missing_or_repealed_clause_cannot_be_issued(client, auth, legal_env):
    bad = _draft(client, auth, "rectification_order", findings=[
        {"text": "未设置安全警示标志", "violated": [{"law": "安全生产法", "article": 200}],
         "penalty": [{"law": "安全生产法", "article": 99, "item": 1}]}])
    assert "没有第二百条" in bad["citation_problems"][0]
    r = _post(client, auth, bad["id"], "sign", "zhuren")
    assert r.status_code == 422 and r.get_json()["errors"]["cited_clauses"]

    good = _draft(client, auth, "rectification_order")
    assert _post(client, auth, good["id"], "sign", "zhuren").status_code == 200
    library.resolve_law("消防法").status = "已废止"  # the law is repealed between signing and issuing
    db.session.commit()
    r = _post(client, auth, good["id"], "issue", "zhuren")
    assert r.status_code == 422 and "不是现行有效" in r.get_json()["detail"]
    assert db.session.get(EnforcementDocument, good["id"]).number is None


def test_numbers_run_per_authority_kind_and_year_without_gaps(client, auth, legal_env):
    numbers = [_issue(client, auth, _draft(client, auth, "rectification_order", case_id=f"c{i}")["id"])["number"]
               for i in range(3)]
    assert numbers == ["平应急责改〔2026〕1号", "平应急责改〔2026〕2号", "平应急责改〔2026〕3号"]
    notice = _draft(client, auth, "penalty_notice", penalty="警告。")
    assert _issue(client, auth, notice["id"])["number"] == "平应急罚告〔2026〕1号"
    next_year = datetime(2027, 1, 2, 8, 0)
    client.application.config["CLOCK"] = lambda: next_year
    auth.tokens.clear()  # the jump in time expired the access tokens
    assert _issue(client, auth, _draft(client, auth, "rectification_order", case_id="c9")["id"])["number"] == \
        "平应急责改〔2027〕1号"


def test_twenty_concurrent_issues_get_gapless_numbers(app, client, auth, legal_env):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises all writers with one file lock; the row-lock path needs PostgreSQL")
    ids = [_draft(client, auth, "rectification_order", case_id=f"con-{i}")["id"] for i in range(20)]
    for doc_id in ids:
        assert _post(client, auth, doc_id, "sign", "zhuren").status_code == 200
    signer_id = legal_env["zhuren"].id
    barrier, errors = threading.Barrier(20), []

    def issue(doc_id):
        # Wait before touching the database: the pool has fewer connections than threads.
        barrier.wait(timeout=30)
        with app.app_context():  # its own app context, hence its own session and connection
            try:
                doc = db.session.get(EnforcementDocument, doc_id)
                user = db.session.get(User, signer_id)
                documents.issue(doc, user)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=issue, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    db.session.expire_all()
    seqs = sorted(db.session.scalars(select(EnforcementDocument.seq).where(EnforcementDocument.id.in_(ids))))
    assert seqs == list(range(1, 21))


def test_rendered_page_turns_into_an_image(client, auth, legal_env, tmp_path):
    doc = _draft(client, auth, "rectification_order")
    issued = _issue(client, auth, doc["id"])
    pdf = db.session.get(EnforcementDocument, issued["id"]).pdf
    (tmp_path / "doc.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(tmp_path / "doc.pdf"),
                    str(tmp_path / "page")], check=True)
    from PIL import Image
    page = Image.open(next(tmp_path.glob("page*.png"))).convert("L")
    assert page.size[0] > 400 and page.size[1] > 600
    dark = sum(1 for px in page.getdata() if px < 128)
    assert dark > 2000  # text was drawn (a blank page or missing glyph boxes only would not reach this)


def test_issued_document_reaches_the_inspectors_phone_and_phones_cannot_write_it(client, auth, legal_env, device):
    phone = device("zhifa1")
    doc = _draft(client, auth, "rectification_order")
    assert [c for c in phone.pull_all() if c["entity"] == "document"] == []  # a draft stays on the server
    issued = _issue(client, auth, doc["id"])
    [change] = [c for c in phone.pull_all() if c["entity"] == "document"]
    assert change["id"] == doc["id"] and change["data"]["number"] == issued["number"]
    assert change["data"]["status"] == "issued" and change["data"]["pdf_sha256"] == issued["pdf_sha256"]
    pdf = client.get(change["data"]["pdf_url"], headers=phone.headers)
    assert pdf.status_code == 200 and hashlib.sha256(pdf.data).hexdigest() == change["data"]["pdf_sha256"]
    forged = dict(change["data"], number="平应急责改〔2026〕999号")
    [result] = phone.push(phone.op("document", doc["id"], base_version=change["version"], data=forged))["results"]
    assert result["status"] == "rejected" and "服务器签发" in result["errors"]["entity"][0]
    [result] = phone.push(phone.op("document", None, data=forged))["results"]
    assert result["status"] == "rejected"
