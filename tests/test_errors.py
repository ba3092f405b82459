"""Every error path answers with one JSON problem format, never a 500."""
from tests.conftest import assert_problem


def test_bad_json_is_400(client, demo):
    r = client.post("/api/v1/auth/login", data="{not json", content_type="application/json")
    assert_problem(r, 400)


def test_non_object_json_is_400(client, demo):
    assert_problem(client.post("/api/v1/auth/login", json=[1, 2]), 400)


def test_wrong_content_type_is_415(client, demo):
    assert_problem(client.post("/api/v1/auth/login", data="username=a", content_type="text/plain"), 415)


def test_unknown_fields_and_wrong_types_are_422_field_by_field(client, demo):
    body = assert_problem(client.post("/api/v1/auth/login", json={
        "username": 5, "password": "x", "device_id": "phone-0001", "admin": True}), 422)
    assert "username" in body["errors"] and "admin" in body["errors"]


def test_missing_token_is_401(client):
    assert_problem(client.get("/api/v1/auth/me"), 401)


def test_unknown_path_is_404(client):
    assert_problem(client.get("/api/v1/no-such-thing"), 404)


def test_wrong_method_is_405(client):
    assert_problem(client.get("/api/v1/auth/login"), 405)


def test_oversize_body_is_413_with_limit(client, app):
    app.config["MAX_CONTENT_LENGTH"] = 2048
    body = assert_problem(client.post("/api/v1/auth/login", data="x" * 4096, content_type="application/json"), 413)
    assert body["limit"] == 2048


def test_duplicate_enterprise_is_409(client, auth, demo):
    h = auth.headers("zhuren")
    e = {"name": "新企业", "credit_code": "91130131MA0A1B2C3D", "address": "平山镇", "industry": "工贸",
         "jurisdiction_code": "130131100000"}
    assert_problem(client.post("/api/v1/enterprises", json=e, headers=h), 409)


def test_forbidden_role_is_403(client, auth, demo):
    e = {"name": "新企业", "credit_code": "91130131MA0A1B2X3D", "address": "平山镇", "industry": "工贸",
         "jurisdiction_code": "130131100000"}
    assert_problem(client.post("/api/v1/enterprises", json=e, headers=auth.headers("wangge")), 403)


def test_health_and_ready(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.get_json()["checks"] == {"database": "ok", "redis": "ok"}
