"""Login, refresh rotation, reuse detection, logout, device revocation, rate limiting."""
from datetime import timedelta

from server.clock import utcnow
from tests.conftest import assert_problem

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/auth/me"


def login(client, username="zhifa1", device_id="phone-0001", password="Danbing@2026"):
    return client.post(LOGIN, json={"username": username, "password": password, "device_id": device_id})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_login_returns_tokens_and_user(client, demo):
    r = login(client)
    assert r.status_code == 200
    body = r.get_json()
    assert body["access_token"].startswith("dba_") and body["refresh_token"].startswith("dbr_")
    assert body["user"]["username"] == "zhifa1" and body["user"]["role"] == "inspector"
    assert client.get(ME, headers=bearer(body["access_token"])).get_json()["device_id"] == "phone-0001"


def test_wrong_password_is_401_with_readable_message(client, demo):
    body = assert_problem(login(client, password="nope-nope"), 401)
    assert "密码" in body["detail"]


def test_failed_logins_are_rate_limited(client, demo, app):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert_problem(login(client, password="wrong-password"), 401)
    # Even the right password is refused while the account is locked out.
    assert_problem(login(client), 429)


def test_refresh_rotates_and_old_access_keeps_working_until_expiry(client, demo):
    first = login(client).get_json()
    r = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get(ME, headers=bearer(second["access_token"])).status_code == 200


def test_reused_refresh_token_revokes_the_session(client, demo):
    first = login(client).get_json()
    second = client.post(REFRESH, json={"refresh_token": first["refresh_token"]}).get_json()
    # An attacker replays the stolen, already-rotated token...
    assert_problem(client.post(REFRESH, json={"refresh_token": first["refresh_token"]}), 401)
    # ...and the legitimate holder's newer tokens die with the session.
    assert_problem(client.get(ME, headers=bearer(second["access_token"])), 401)
    assert_problem(client.post(REFRESH, json={"refresh_token": second["refresh_token"]}), 401)


def test_expired_access_token_is_refused(client, demo, app):
    tokens = login(client).get_json()
    later = utcnow() + timedelta(seconds=app.config["ACCESS_TOKEN_TTL"] + 1)
    app.config["CLOCK"] = lambda: later
    body = assert_problem(client.get(ME, headers=bearer(tokens["access_token"])), 401)
    assert body["code"] == "token_expired"
    # The refresh token still works days later: field phones stay offline.
    assert client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]}).status_code == 200


def test_logout_ends_the_session(client, demo):
    tokens = login(client).get_json()
    assert client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"])).status_code == 200
    assert_problem(client.get(ME, headers=bearer(tokens["access_token"])), 401)
    assert_problem(client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]}), 401)


def test_admin_revokes_a_lost_phone_and_its_tokens_stop_at_once(client, demo):
    lost = login(client, device_id="lost-phone-1").get_json()
    other = login(client, device_id="other-phone-1").get_json()
    admin = login(client, "admin", device_id="admin-desk-1").get_json()
    r = client.post("/api/v1/devices/lost-phone-1/revoke", headers=bearer(admin["access_token"]))
    assert r.status_code == 200 and r.get_json()["revoked"] is True
    assert_problem(client.get(ME, headers=bearer(lost["access_token"])), 401)
    assert_problem(client.post(REFRESH, json={"refresh_token": lost["refresh_token"]}), 401)
    assert_problem(login(client, device_id="lost-phone-1"), 403)
    # The inspector's other phone is untouched.
    assert client.get(ME, headers=bearer(other["access_token"])).status_code == 200


def test_only_admins_revoke_devices(client, demo):
    login(client, device_id="phone-a-0001")
    sup = login(client, "zhuren", device_id="phone-s-0001").get_json()
    assert_problem(client.post("/api/v1/devices/phone-a-0001/revoke", headers=bearer(sup["access_token"])), 403)


def test_admin_of_another_county_cannot_revoke(client, demo):
    from server.accounts import create_user
    create_user(username="admin2", password="Danbing@2026", role="admin", jurisdiction_code="130132000000")
    login(client, device_id="phone-b-0001")
    other = login(client, "admin2", device_id="phone-x-0001").get_json()
    assert_problem(client.post("/api/v1/devices/phone-b-0001/revoke", headers=bearer(other["access_token"])), 403)
