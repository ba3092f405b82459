"""Free-text clause suggestions (jieba + BM25 over every 款 and 项)."""
from legal import matching


def test_suggestions_rank_the_right_clauses_with_their_passage(law_library):
    got = matching.suggest("车间工人作业时没戴安全帽", limit=3)
    assert ("中华人民共和国安全生产法", 45) in {(s["law"], s["article"]) for s in got}
    penalty = matching.suggest("疏散通道被货物堵塞", limit=3, role="penalty")
    top = penalty[0]
    assert (top["law"], top["article"], top["paragraph"], top["item"]) == ("中华人民共和国消防法", 60, 1, 3)
    assert top["citation"] == "《中华人民共和国消防法》第六十条第一款第（三）项"
    assert "疏散通道" in top["passage"] and top["role"] == "penalty"
    assert all(s["role"] == "penalty" for s in penalty)


def test_suggest_api_validates_and_answers(law_library, client, auth):
    h = auth.headers("zhifa1")
    r = client.post("/api/v1/clauses/suggest", json={"text": "配电箱旁电线私拉乱接", "limit": 3}, headers=h)
    assert r.status_code == 200
    items = r.get_json()["items"]
    assert items and items[0]["law"] == "中华人民共和国消防法" and items[0]["passage"]
    r = client.post("/api/v1/clauses/suggest", json={"text": ""}, headers=h)
    assert r.status_code == 422
    r = client.post("/api/v1/clauses/suggest", json={"text": "x", "role": "both"}, headers=h)
    assert r.status_code == 422


def test_hazard_clauses_api(client, auth):
    r = client.get("/api/v1/clauses/for-hazard/fire_exit_blocked", headers=auth.headers("zhifa1"))
    body = r.get_json()
    assert r.status_code == 200 and body["violation"]
    assert "《中华人民共和国消防法》第二十八条" in [c["citation"] for c in body["violated"]]
    r = client.get("/api/v1/clauses/for-hazard/nope", headers=auth.headers("zhifa1"))
    assert r.status_code == 404
