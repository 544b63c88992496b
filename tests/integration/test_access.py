"""Authentication and role-scoped access through the HTTP API, on SQLite and on the real PostgreSQL.

The matrix compares every answer with an independent statement of the rules: a role reads its scope,
writes it unless it is an auditor, and gets 403 for everything else.
"""

import re
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from campuspulse.server.app import create_app
from campuspulse.telemetry import format_ts, parse_ts
from tests.support.campus import AUTH, TOKEN, payload

CITY_OF = {"hd": "bj", "cy": "bj", "pd": "sh"}
DISTRICT_OF = {"s1": "hd", "s2": "hd", "s3": "cy", "s4": "pd"}
USERS = {
    "dm_hd": ("district_manager", "region", "hd"),
    "dm_bj": ("district_manager", "region", "bj"),
    "sm_s1": ("school_manager", "school", "s1"),
    "aud_all": ("auditor", "all", ""),
    "aud_cy": ("auditor", "region", "cy"),
    "aud_s2": ("auditor", "school", "s2"),
}
PASSWORD = "correct horse battery"


def in_scope(user: str, school: str) -> bool:
    _, kind, ident = USERS[user]
    district = DISTRICT_OF[school]
    return (
        kind == "all"
        or (kind == "school" and school == ident)
        or (kind == "region" and ident in (district, CITY_OF[district]))
    )


def may_write(user: str, school: str) -> bool:
    return USERS[user][0] != "auditor" and in_scope(user, school)


def put(client, path, body, headers=AUTH):
    r = client.put(f"/api/v1{path}", json=body, headers=headers)
    assert r.status_code in (200, 201), r.text
    return r


def build_region_tree(client) -> None:
    for city in ("bj", "sh"):
        put(client, f"/regions/{city}", {"name": city, "level": "city"})
    for district, city in CITY_OF.items():
        put(client, f"/regions/{district}", {"name": district, "level": "district", "parent": city})
    for school, district in DISTRICT_OF.items():
        put(client, f"/schools/{school}", {"name": school, "district": district, "stage": "junior"})
        put(client, f"/agents/a-{school}", {"school": school})
        put(client, f"/schools/{school}/devices/pc1", {"agent": f"a-{school}", "room": "lab1", "kind": "lab_pc"})
        put(client, f"/schools/{school}/calendar/2026-09-07", {"periods": [["08:00", "08:45"]]})
        put(client, f"/schools/{school}/rooms/tmp", {"name": "temporary", "type": "classroom"})


@pytest.fixture
def client(store_url):
    app = create_app(store_url, admin_token=TOKEN)
    with TestClient(app) as c:
        build_region_tree(c)
        for name, (role, kind, ident) in USERS.items():
            body = {"username": name, "password": PASSWORD, "role": role, "scope_kind": kind, "scope_id": ident}
            r = c.post("/api/v1/users", json=body, headers=AUTH)
            assert r.status_code == 201, r.text
        yield c
    app.state.engine.dispose()


def login(client, user: str, password: str = PASSWORD) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", data={"username": user, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def expect(r, allowed: bool, ok: tuple[int, ...] = (200,)) -> None:
    assert r.status_code in (ok if allowed else (403,)), f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"


def test_no_role_reads_or_writes_outside_its_scope(client):
    state = {
        "type": "state",
        "seq": 0,
        "ts": format_ts(parse_ts("2026-09-07T08:00:00Z")),
        "device": "pc1",
        "state": "in_use",
        "valid_s": 180,
    }
    for user in USERS:
        h = login(client, user)
        for school in DISTRICT_OF:
            read, write = in_scope(user, school), may_write(user, school)
            expect(client.get(f"/api/v1/schools/{school}", headers=h), read)
            expect(client.get(f"/api/v1/schools/{school}/devices", headers=h), read)
            expect(client.get(f"/api/v1/schools/{school}/equipment", headers=h), read)
            expect(client.get(f"/api/v1/agents/a-{school}", headers=h), read)
            day = {"scope": "school", "id": school, "from": "2026-09-07", "to": "2026-09-08"}
            expect(client.get("/api/v1/utilization", params=day, headers=h), read)
            room = {"name": "Physics lab", "type": "physics_lab", "capacity": 50}
            expect(client.put(f"/api/v1/schools/{school}/rooms/lab-{user}", json=room, headers=h), write, (201,))
            item = {"catalog_code": "12001", "name": "天平", "quantity": 2, "unit": "台", "unit_value": "180.00"}
            expect(client.put(f"/api/v1/schools/{school}/equipment/e-{user}", json=item, headers=h), write, (201,))
            expect(client.delete(f"/api/v1/schools/{school}/rooms/tmp", headers=h), write, (204,))
            if write:  # put it back for the next user
                put(client, f"/schools/{school}/rooms/tmp", {"name": "temporary", "type": "classroom"})
            body = payload([{**state, "seq": 1000 + len(user)}], agent=f"a-{school}", school=school)
            expect(client.post("/api/v1/ingest/records", json=body, headers=h), write)
            school_body = {"name": school, "district": DISTRICT_OF[school], "stage": "junior"}
            may_edit_school = write and USERS[user][0] == "district_manager"
            expect(client.put(f"/api/v1/schools/{school}", json=school_body, headers=h), may_edit_school)


def test_lists_show_only_what_is_in_scope(client):
    for user in USERS:
        h = login(client, user)
        schools = {s["code"] for s in client.get("/api/v1/schools", headers=h).json()["schools"]}
        assert schools == {s for s in DISTRICT_OF if in_scope(user, s)}, user
        agents = {a["school"] for a in client.get("/api/v1/agents", headers=h).json()["agents"]}
        assert agents == schools, user
        audited = {
            e["school"] for e in client.get("/api/v1/audit", params={"limit": 1000}, headers=h).json()["entries"]
        }
        assert audited - {None} <= schools, user
        if USERS[user][1] != "all":
            assert None not in audited, f"{user} must not see entries outside any school (users, regions)"


@pytest.mark.parametrize(
    ("scope", "ident", "allowed"),
    [
        ("district", "hd", {"aud_all", "dm_hd", "dm_bj"}),
        ("district", "cy", {"aud_all", "dm_bj", "aud_cy"}),
        ("city", "bj", {"aud_all", "dm_bj"}),
        ("city", "", {"aud_all"}),
    ],
)
def test_region_figures_need_the_whole_region_in_scope(client, scope, ident, allowed):
    for user in USERS:
        query = {"scope": scope, "id": ident, "from": "2026-09-07", "to": "2026-09-08"}
        expect(client.get("/api/v1/utilization", params=query, headers=login(client, user)), user in allowed)


def test_district_manager_cannot_move_a_school_out_of_its_region(client):
    h = login(client, "dm_hd")
    expect(client.put("/api/v1/schools/s1", json={"name": "s1", "district": "cy", "stage": "junior"}, headers=h), False)
    expect(
        client.put("/api/v1/schools/s9", json={"name": "new", "district": "cy", "stage": "junior"}, headers=h), False
    )
    r = client.put("/api/v1/schools/s9", json={"name": "new", "district": "hd", "stage": "junior"}, headers=h)
    assert r.status_code == 201, r.text


def test_district_manager_creates_users_only_inside_its_region(client):
    h = login(client, "dm_hd")
    inside = {
        "username": "sm_s2",
        "password": PASSWORD,
        "role": "school_manager",
        "scope_kind": "school",
        "scope_id": "s2",
    }
    assert client.post("/api/v1/users", json=inside, headers=h).status_code == 201
    outside = {**inside, "username": "sm_s3", "scope_id": "s3"}
    expect(client.post("/api/v1/users", json=outside, headers=h), False)
    admin = {"username": "boss", "password": PASSWORD, "role": "admin", "scope_kind": "all", "scope_id": ""}
    expect(client.post("/api/v1/users", json=admin, headers=h), False)
    assert client.get("/api/v1/schools/s2", headers=login(client, "sm_s2")).status_code == 200


def test_role_and_scope_must_fit(client):
    bad = {"username": "x", "password": PASSWORD, "role": "school_manager", "scope_kind": "region", "scope_id": "hd"}
    r = client.post("/api/v1/users", json=bad, headers=AUTH)
    assert r.status_code == 409 and "school_manager takes a scope of kind school" in r.json()["detail"]


def test_wrong_password_and_unknown_user_get_the_same_answer(client):
    wrong = client.post("/api/v1/auth/token", data={"username": "dm_hd", "password": "not it at all"})
    unknown = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "not it at all"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_a_forged_or_expired_access_token_is_refused(store_url):
    app = create_app(store_url, admin_token=TOKEN, access_token_ttl=timedelta(seconds=-1))
    with TestClient(app) as c:
        body = {"username": "u1", "password": PASSWORD, "role": "auditor", "scope_kind": "all", "scope_id": ""}
        assert c.post("/api/v1/users", json=body, headers=AUTH).status_code == 201
        expired = login(c, "u1")
        r = c.get("/api/v1/schools", headers=expired)
        assert r.status_code == 401 and "expired" in r.json()["detail"]
        forged = {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl"}
        assert c.get("/api/v1/schools", headers=forged).status_code == 401
    app.state.engine.dispose()


def test_api_token_acts_as_its_user_until_revoked(client):
    h = login(client, "sm_s1")
    r = client.post("/api/v1/auth/api-tokens", json={"name": "agent on lab PC 1"}, headers=h)
    assert r.status_code == 201, r.text
    created = r.json()
    machine = {"Authorization": f"Bearer {created['token']}"}
    assert client.get("/api/v1/auth/me", headers=machine).json()["username"] == "sm_s1"
    expect(client.get("/api/v1/schools/s2", headers=machine), False)
    listed = client.get("/api/v1/auth/api-tokens", headers=h).json()["tokens"]
    assert [t["id"] for t in listed] == [created["id"]] and "token" not in listed[0]
    other = login(client, "dm_hd")
    assert client.delete(f"/api/v1/auth/api-tokens/{created['id']}", headers=other).status_code == 404
    assert client.delete(f"/api/v1/auth/api-tokens/{created['id']}", headers=h).status_code == 204
    r = client.get("/api/v1/auth/me", headers=machine)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_every_replica_signs_with_the_same_shared_key(store_url, client):
    token = login(client, "aud_all")
    second = create_app(store_url, admin_token=TOKEN)
    with TestClient(second) as c2:
        assert c2.get("/api/v1/auth/me", headers=token).json()["username"] == "aud_all"
    second.state.engine.dispose()


def test_repeated_failed_logins_are_paused_then_allowed_again(store_url):
    app = create_app(store_url, admin_token=TOKEN, login_attempts=3, login_window=timedelta(seconds=2))
    with TestClient(app) as c:
        body = {"username": "u1", "password": PASSWORD, "role": "auditor", "scope_kind": "all", "scope_id": ""}
        assert c.post("/api/v1/users", json=body, headers=AUTH).status_code == 201
        codes = [
            c.post("/api/v1/auth/token", data={"username": "u1", "password": "wrong password"}).status_code
            for _ in range(4)
        ]
        assert codes == [401, 401, 401, 429]
        paused = c.post("/api/v1/auth/token", data={"username": "u1", "password": PASSWORD})
        assert paused.status_code == 429 and int(paused.headers["Retry-After"]) >= 1, "even the right password waits"
        time.sleep(2.1)
        assert c.post("/api/v1/auth/token", data={"username": "u1", "password": PASSWORD}).status_code == 200
    app.state.engine.dispose()


def test_responses_carry_security_headers_and_cors_is_closed(client):
    r = client.get("/api/v1/schools", headers=AUTH)
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Cache-Control"] == "no-store"
    pre = client.options(
        "/api/v1/schools", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in pre.headers


def test_named_origins_may_call_the_api(store_url):
    app = create_app(store_url, admin_token=TOKEN, cors_origins=["https://dash.example"])
    with TestClient(app) as c:
        ok = c.get("/api/v1/schools", headers={**AUTH, "Origin": "https://dash.example"})
        assert ok.headers["access-control-allow-origin"] == "https://dash.example"
        other = c.get("/api/v1/schools", headers={**AUTH, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
    app.state.engine.dispose()


def test_a_deleted_users_tokens_and_sessions_die_with_them_even_when_the_name_is_taken_again(client):
    """Tokens used to be matched by username: a new user with a deleted user's name inherited their tokens."""
    name, (role, kind, ident) = next(iter(USERS.items()))
    session = login(client, name)
    made = client.post("/api/v1/auth/api-tokens", json={"name": "old machine"}, headers=session)
    assert made.status_code == 201, made.text
    machine = {"Authorization": f"Bearer {made.json()['token']}"}
    assert client.get("/api/v1/auth/me", headers=machine).status_code == 200

    assert client.patch(f"/api/v1/users/{name}", json={"disabled": True}, headers=AUTH).status_code == 200
    for headers in (session, machine):
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 401, "disabled: refused at once"
    assert client.patch(f"/api/v1/users/{name}", json={"disabled": False}, headers=AUTH).status_code == 200
    assert client.get("/api/v1/auth/me", headers=session).status_code == 401, "enabling does not revive sessions"
    assert client.get("/api/v1/auth/me", headers=machine).status_code == 200, "a machine's token works again"
    session = login(client, name)

    assert client.delete(f"/api/v1/users/{name}", headers=AUTH).status_code == 204
    body = {"username": name, "password": PASSWORD, "role": role, "scope_kind": kind, "scope_id": ident}
    assert client.post("/api/v1/users", json=body, headers=AUTH).status_code == 201, "the name is free again"
    for headers in (session, machine):
        r = client.get("/api/v1/auth/me", headers=headers)
        assert r.status_code == 401, "the old user's session and token do not act as the new user"
    assert client.get("/api/v1/auth/me", headers=login(client, name)).status_code == 200
    entries = client.get("/api/v1/audit", params={"limit": 1000}, headers=AUTH).json()["entries"]
    assert any(e["entity"] == "user" and e["action"] == "delete" for e in entries), "the deletion is audited"
    assert client.delete(f"/api/v1/users/{name}", headers=login(client, name)).status_code == 403, "admins only"


def test_a_password_or_role_change_ends_every_session_of_the_user(client):
    """Sessions used to live on after a password reset or a change of role, until they expired (8 hours)."""
    name, (role, _kind, ident) = next((n, u) for n, u in USERS.items() if u[0] == "school_manager")
    phone, laptop = login(client, name), login(client, name)
    wrong = {"current_password": "not it at all", "new_password": "a brand new password"}
    assert client.post("/api/v1/auth/password", json=wrong, headers=phone).status_code == 403
    assert client.get("/api/v1/auth/me", headers=laptop).status_code == 200, "a wrong current password changes nothing"

    change = {"current_password": PASSWORD, "new_password": "a brand new password"}
    r = client.post("/api/v1/auth/password", json=change, headers=phone)
    assert r.status_code == 200, r.text
    fresh = {"Authorization": f"Bearer {r.json()['access_token']}"}
    for old in (phone, laptop):
        assert client.get("/api/v1/auth/me", headers=old).status_code == 401, "every earlier session ends"
    assert client.get("/api/v1/auth/me", headers=fresh).status_code == 200
    assert client.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD}).status_code == 401

    other_school = next(u[2] for u in USERS.values() if u[1] == "school" and u[2] != ident)
    move = {"scope_id": other_school}
    assert client.patch(f"/api/v1/users/{name}", json=move, headers=fresh).status_code == 403, "admins only"
    r = client.patch(f"/api/v1/users/{name}", json=move, headers=AUTH)
    assert r.status_code == 200 and (r.json()["role"], r.json()["scope_id"]) == (role, other_school), r.text
    assert client.get("/api/v1/auth/me", headers=fresh).status_code == 401, "a change of scope ends the session"
    bad = client.patch(f"/api/v1/users/{name}", json={"role": "admin"}, headers=AUTH)
    assert bad.status_code == 422 and "scope of kind all" in bad.json()["detail"], "an admin is over all"

    reset = client.patch(f"/api/v1/users/{name}", json={"password": "reset by the admin"}, headers=AUTH)
    assert reset.status_code == 200
    r = client.post("/api/v1/auth/token", data={"username": name, "password": "reset by the admin"})
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}).json()
    assert me["scope_id"] == other_school
    log = client.get("/api/v1/audit", params={"limit": 1000}, headers=AUTH).json()["entries"]
    changes = [e for e in log if e["entity"] == "user" and e["key"] == name and e["action"] == "update"]
    assert len(changes) == 3 and all(e["new"]["password_hash"] == "<hidden>" for e in changes), "audited, hidden"
    assert changes[1]["old"]["scope_id"] == ident and changes[1]["new"]["scope_id"] == other_school


def test_logout_ends_the_session_everywhere_and_only_this_sites_form_can_ask_for_it(client):
    """Logout used to delete the cookie only: a copied session stayed valid for 8 hours, and a cross-site POST
    (no form token) logged the user out."""
    form = client.get("/ui/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    client.post("/ui/login", data={"username": "aud_all", "password": PASSWORD, "csrf": csrf})
    stolen = client.cookies.get("cp_session")
    assert stolen and client.get("/ui/region", follow_redirects=False).status_code == 200
    page = client.get("/ui/region").text
    logout_csrf = re.search(r'action="/ui/logout".*?name="csrf" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]

    forged = client.post("/ui/logout", data={}, follow_redirects=False)  # what another site's form would send
    assert forged.status_code == 403 and client.get("/ui/region", follow_redirects=False).status_code == 200

    done = client.post("/ui/logout", data={"csrf": logout_csrf}, follow_redirects=False)
    assert done.status_code == 303
    client.cookies.set("cp_session", stolen)  # the copy someone kept
    again = client.get("/ui/region", follow_redirects=False)
    assert again.status_code == 303 and "expired=1" in again.headers["location"], "the copied session is dead"
    r = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {stolen}"})
    assert r.status_code == 401 and "logged out" in r.text


def test_the_region_tree_shows_each_caller_only_its_part_of_it(client):
    def codes(user: str | None) -> set[str]:
        headers = AUTH if user is None else login(client, user)
        r = client.get("/api/v1/regions", headers=headers)
        assert r.status_code == 200, r.text
        return {region["code"] for region in r.json()["regions"]}

    assert codes(None) == {"bj", "sh", "hd", "cy", "pd"}, "an admin over everything sees every region"
    assert codes("dm_hd") == {"hd", "bj"}, "a district and the city above it"
    assert codes("dm_bj") == {"bj", "hd", "cy"}, "a city and its districts"
    assert codes("sm_s1") == {"hd", "bj"}, "a school's district and city"
    assert codes("aud_cy") == {"cy", "bj"}


def test_the_api_docs_are_served_from_the_package_to_logged_in_callers_only(client):
    assert client.get("/openapi.json").status_code == 401
    assert client.get("/openapi.json", headers=AUTH).json()["info"]["title"] == "campuspulse"
    page = client.get("/docs", follow_redirects=False)
    assert page.status_code == 303 and "/ui/login" in page.headers["location"]
    login(client, "aud_all")  # an API login; the page needs the dashboard's session
    form = client.get("/ui/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    client.post("/ui/login", data={"username": "aud_all", "password": PASSWORD, "csrf": csrf})
    html = client.get("/docs").text
    assert "/docs/static/swagger-ui-bundle.js" in html and "cdn" not in html.lower(), "nothing from a CDN"
    assert client.get("/docs/static/swagger-ui-bundle.js").status_code == 200
    assert client.get("/openapi.json").status_code == 200, "the page's schema comes with the session"


def test_a_strangers_wrong_passwords_slow_a_name_down_but_never_lock_it_out_and_spraying_stops_the_address(
    store_url,
):
    """Failures used to lock `username@address` out for the whole window, which behind a proxy (one address for all)
    locked a user out for everyone. Now a name waits growing delays (1 s, 2 s, … at most 60 s) and an address that
    sprays many names is stopped for the window."""
    app = create_app(store_url, admin_token=TOKEN, login_attempts=3, login_window=timedelta(minutes=10))
    with TestClient(app) as c:
        body = {"username": "u1", "password": PASSWORD, "role": "auditor", "scope_kind": "all", "scope_id": ""}
        assert c.post("/api/v1/users", json=body, headers=AUTH).status_code == 201

        def attempt(user: str, password: str) -> int:
            return c.post("/api/v1/auth/token", data={"username": user, "password": password}).status_code

        assert [attempt("u1", "wrong password") for _ in range(4)] == [401, 401, 401, 429]
        time.sleep(1.1)  # the first delay, not the ten-minute window
        assert attempt("u1", PASSWORD) == 200, "the name is usable again after a short delay"
        sprayed = [attempt(f"guess{i}", "wrong password") for i in range(28)]  # with u1's 3: 3 × 10 from one address
        assert sprayed == [401] * 27 + [429]
        stopped = c.post("/api/v1/auth/token", data={"username": "u1", "password": PASSWORD})
        assert stopped.status_code == 429 and int(stopped.headers["Retry-After"]) > 60, "the address waits the window"
    app.state.engine.dispose()
