"""Registration, verification, login, logout, password reset, invitations."""

from __future__ import annotations

import asyncio

from tenancy.permissions import AccountType
from tests.control_plane.support import PASSWORD, Api, unique_email


async def test_register_verify_login_me_logout(api: Api) -> None:
    email = unique_email("alice")
    r = await api.call(
        "POST",
        "/v1/auth/register",
        json={
            "email": email.upper(),
            "password": PASSWORD,
            "name": "Alice",
            "account_type": "agency",
            "organization_name": "Alice & Co",
        },
    )
    assert r.status_code == 201, r.text
    org_id = r.json()["organization_id"]
    assert org_id

    # Unverified: no login yet.
    r = await api.call("POST", "/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 403
    assert "verified" in r.json()["error"]["message"]

    token = await api.mailed_token(email)
    assert (
        await api.call("POST", "/v1/auth/verify-email", json={"token": token})
    ).status_code == 200
    # One-time: a second use fails.
    assert (
        await api.call("POST", "/v1/auth/verify-email", json={"token": token})
    ).status_code == 422

    r = await api.call("POST", "/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    session = r.json()["token"]
    auth = {"Authorization": f"Bearer {session}"}
    me = (await api.call("GET", "/v1/auth/me", headers=auth)).json()
    assert me["email"] == email and me["account_type"] == "agency"
    assert [o["org_id"] for o in me["organizations"]] == [org_id]
    assert me["organizations"][0]["role"] == "owner"
    assert me["organizations"][0]["slug"] == "alice-co"

    assert (await api.call("POST", "/v1/auth/logout", headers=auth)).status_code == 200
    assert (await api.call("GET", "/v1/auth/me", headers=auth)).status_code == 401


async def test_login_failures_say_the_same_thing(api: Api) -> None:
    person = await api.person()
    wrong = await api.call(
        "POST", "/v1/auth/login", json={"email": person.email, "password": "not the password"}
    )
    unknown = await api.call(
        "POST", "/v1/auth/login", json={"email": unique_email(), "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_duplicate_email_and_weak_password(api: Api) -> None:
    person = await api.person()
    body = {"email": person.email, "password": PASSWORD, "name": "Dup"}
    assert (await api.call("POST", "/v1/auth/register", json=body)).status_code == 409
    body = {"email": unique_email(), "password": "short", "name": "Weak"}
    r = await api.call("POST", "/v1/auth/register", json=body)
    assert r.status_code == 422 and "password" in r.json()["error"]["message"]


async def test_password_reset_logs_out_everywhere(api: Api) -> None:
    person = await api.person()
    r = await api.call("POST", "/v1/auth/password-reset", json={"email": person.email})
    assert r.status_code == 202
    # Unknown addresses get the same answer and no mail.
    r = await api.call("POST", "/v1/auth/password-reset", json={"email": unique_email()})
    assert r.status_code == 202
    token = await api.mailed_token(person.email)
    new = "a brand new passphrase"
    r = await api.call(
        "POST", "/v1/auth/password-reset/confirm", json={"token": token, "new_password": new}
    )
    assert r.status_code == 200, r.text
    assert (await api.call("GET", "/v1/auth/me", person)).status_code == 401
    old = await api.call(
        "POST", "/v1/auth/login", json={"email": person.email, "password": PASSWORD}
    )
    assert old.status_code == 401
    ok = await api.call("POST", "/v1/auth/login", json={"email": person.email, "password": new})
    assert ok.status_code == 200


async def test_invitation_accept_expiry_and_wrong_person(api: Api) -> None:
    owner = await api.person(tag="owner")
    invitee = await api.person(org=False, tag="invitee")
    stranger = await api.person(org=False, tag="stranger")
    r = await api.call(
        "POST", "/v1/invitations", owner, json={"email": invitee.email, "role": "developer"}
    )
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert await api.mailed_token(invitee.email) == token

    wrong = await api.call("POST", "/v1/invitations/accept", stranger, json={"token": token})
    assert wrong.status_code == 403
    ok = await api.call("POST", "/v1/invitations/accept", invitee, json={"token": token})
    assert ok.status_code == 200, ok.text
    again = await api.call("POST", "/v1/invitations/accept", invitee, json={"token": token})
    assert again.status_code == 422

    members = (await api.call("GET", "/v1/members", owner)).json()
    roles = {m["email"]: m["role"] for m in members}
    assert roles == {owner.email: "owner", invitee.email: "developer"}
    # The invitee now works in the organisation with the developer's rights.
    as_invitee = {**invitee.headers(), "X-CAP-Org": owner.org_id or ""}
    assert (await api.call("GET", "/v1/agents", headers=as_invitee)).status_code == 200
    assert (
        await api.call("POST", "/v1/teams", headers=as_invitee, json={"name": "x"})
    ).status_code == 403

    # An expired invitation cannot be used.
    late = await api.person(org=False, tag="late")
    r = await api.call(
        "POST", "/v1/invitations", owner, json={"email": late.email, "ttl_hours": 0.0001}
    )
    await asyncio.sleep(0.5)
    expired = await api.call(
        "POST", "/v1/invitations/accept", late, json={"token": r.json()["token"]}
    )
    assert expired.status_code == 422


async def test_dev_users_cannot_manage_teams_even_as_owner(api: Api) -> None:
    dev = await api.person(account_type=AccountType.DEV_USER, tag="dev")
    r = await api.call("POST", "/v1/teams", dev, json={"name": "Core"})
    assert r.status_code == 403
    # Everything else an owner does still works.
    r = await api.call("POST", "/v1/agents", dev, json={"name": "Bot"})
    assert r.status_code == 201, r.text


async def test_last_owner_is_protected_and_admins_cannot_touch_owners(api: Api) -> None:
    owner = await api.person(tag="owner")
    assert owner.org_id
    admin = await api.member(owner.org_id, "admin")
    members = {m["user_id"]: m["id"] for m in (await api.call("GET", "/v1/members", owner)).json()}
    r = await api.call(
        "PATCH", f"/v1/members/{members[owner.user_id]}", admin, json={"role": "viewer"}
    )
    assert r.status_code == 403
    r = await api.call("DELETE", f"/v1/members/{members[owner.user_id]}", owner)
    assert r.status_code == 409
    r = await api.call(
        "PATCH", f"/v1/members/{members[admin.user_id]}", owner, json={"role": "viewer"}
    )
    assert r.status_code == 200 and r.json()["role"] == "viewer"


async def test_deleting_a_team_with_members_and_a_role_with_invitations(api: Api) -> None:
    owner = await api.person()
    assert owner.org_id
    other = await api.member(owner.org_id, "member")
    team = (await api.call("POST", "/v1/teams", owner, json={"name": "Ops"})).json()
    await api.call("PUT", f"/v1/teams/{team['id']}/members/{other.user_id}", owner)
    assert (await api.call("DELETE", f"/v1/teams/{team['id']}", owner)).status_code == 200
    assert (await api.call("GET", f"/v1/teams/{team['id']}", owner)).status_code == 404

    role = (
        await api.call("POST", "/v1/roles", owner, json={"name": "R", "permissions": ["org.read"]})
    ).json()
    r = await api.call(
        "POST",
        "/v1/invitations",
        owner,
        json={"email": unique_email(), "role": None, "custom_role_id": role["id"]},
    )
    assert r.status_code == 201, r.text
    assert (await api.call("DELETE", f"/v1/roles/{role['id']}", owner)).status_code == 200
    assert (await api.call("GET", "/v1/invitations", owner)).json() == []
