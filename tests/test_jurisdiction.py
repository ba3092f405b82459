"""Jurisdiction codes and scoping: a user sees their own area and everything below."""
from server.models.jurisdiction import covers, level_of, parent_code, scope_prefix, valid_code
from tests.conftest import assert_problem


def test_levels_and_prefixes_follow_the_code():
    assert level_of("130000000000") == "province" and scope_prefix("130000000000") == "13"
    assert level_of("130100000000") == "city" and scope_prefix("130100000000") == "1301"
    assert level_of("130131000000") == "county" and scope_prefix("130131000000") == "130131"
    assert level_of("130131100000") == "township" and scope_prefix("130131100000") == "130131100"
    assert level_of("130131100201") == "village" and scope_prefix("130131100201") == "130131100201"
    assert parent_code("130131100201") == "130131100000" and parent_code("130131100000") == "130131000000"
    assert valid_code("130131100201") and not valid_code("13013110020") and not valid_code("abc")


def test_covers_own_area_and_below_only():
    assert covers("130131000000", "130131100201")
    assert not covers("130131100201", "130131100202")  # village A cannot see village B
    assert not covers("130131100000", "130131101201")  # township cannot see another township's village


def test_village_user_cannot_see_another_villages_enterprise(client, auth, demo):
    h = auth.headers("wangge")  # grid member of 东关村 130131100201
    items = client.get("/api/v1/enterprises", headers=h).get_json()["items"]
    assert {e["jurisdiction_code"] for e in items} == {"130131100201"}
    other = next(e for e in client.get("/api/v1/enterprises", headers=auth.headers("zhuren")).get_json()["items"]
                 if e["jurisdiction_code"] == "130131100202")
    assert_problem(client.get(f"/api/v1/enterprises/{other['id']}", headers=h), 404)


def test_county_supervisor_sees_the_county_but_not_the_next_county(client, auth, demo):
    r = client.get("/api/v1/enterprises?per_page=100", headers=auth.headers("zhuren")).get_json()
    codes = {e["jurisdiction_code"] for e in r["items"]}
    assert r["total"] == 12 and all(c.startswith("130131") for c in codes)


def test_jurisdiction_tree_is_scoped(client, auth, demo):
    items = client.get("/api/v1/jurisdictions", headers=auth.headers("xinxi")).get_json()["items"]
    assert [j["code"] for j in items] == ["130131101201"]


def test_supervisor_lists_the_people_of_their_jurisdiction_to_assign_work(client, auth, demo):
    r = client.get("/api/v1/users?role=inspector,grid_member", headers=auth.headers("zhuren"))
    assert r.status_code == 200
    names = {u["username"] for u in r.get_json()["items"]}
    assert {"zhifa1", "zhifa2", "wangge"} <= names
    assert "yuanshi" not in names and "zhuren" not in names  # another county; not the asked roles
    assert client.get("/api/v1/users?role=pilot", headers=auth.headers("zhuren")).status_code == 422
    assert client.get("/api/v1/users", headers=auth.headers("wangge")).status_code == 403
