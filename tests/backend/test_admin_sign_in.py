"""Password guessing at the admin's login page: one budget with the staff API, per address and per
username, refused before any password is hashed (chat/signin.py, chat/limits.py)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "long-enough-pass-1"
BURST = 3


@pytest.fixture(autouse=True)
def small_budget(settings):
    settings.BACKCHANNEL_IDENTITY_BURST = BURST
    settings.BACKCHANNEL_IDENTITY_PER_MIN = 1


@pytest.fixture
def staff_user(db):
    return User.objects.create_user("moderator", password=PASSWORD, is_staff=True)


def admin_login(client, username: str, password: str, *, ip: str = "10.0.0.1"):
    return client.post(
        "/admin/login/", {"username": username, "password": password, "next": "/admin/"}, secure=True, REMOTE_ADDR=ip
    )


def staff_api(client, username: str, password: str, *, ip: str = "10.0.0.1"):
    return client.post(
        "/api/identity/staff/", {"username": username, "password": password},
        content_type="application/json", secure=True, REMOTE_ADDR=ip,
    )  # fmt: skip


def test_guessing_from_one_address_is_refused_with_429_and_no_password_is_hashed(client, staff_user):
    for _ in range(BURST):
        response = admin_login(client, "moderator", "guess")
        assert response.status_code == 200 and b"correct username and password" in response.content
    with mock.patch.object(auth_forms, "authenticate", wraps=auth_forms.authenticate) as authenticate:
        refused = admin_login(client, "moderator", PASSWORD)  # even the right password, while refused
        assert authenticate.call_count == 0, "a refused attempt hashed a password"
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert b"Too many sign-in attempts from this address or for this username" in refused.content
    assert b"Try again in" in refused.content


def test_guessing_one_account_from_many_addresses_is_refused(client, staff_user):
    for n in range(BURST):
        assert admin_login(client, "moderator", "guess", ip=f"10.1.0.{n}").status_code == 200
    assert admin_login(client, "moderator", PASSWORD, ip="10.1.0.99").status_code == 429
    assert admin_login(client, "MODERATOR", PASSWORD, ip="10.1.0.98").status_code == 429, "one key per spelling"
    # Another account from a fresh address is not affected.
    User.objects.create_user("owner", password=PASSWORD, is_staff=True)
    assert admin_login(client, "owner", PASSWORD, ip="10.1.0.97").status_code == 302


def test_the_admin_and_the_staff_api_spend_one_budget(client, staff_user):
    for _ in range(BURST):
        assert staff_api(client, "moderator", "guess", ip="10.2.0.1").status_code == 403
    assert admin_login(client, "moderator", PASSWORD, ip="10.2.0.1").status_code == 429
    for n in range(BURST):
        assert admin_login(client, f"someone{n}", "guess", ip="10.2.0.2").status_code == 200
    refused = staff_api(client, "moderator", PASSWORD, ip="10.2.0.2")
    assert (refused.status_code, refused.json()["error"]["code"]) == (429, "identity_rate_limited")
    assert "from this address or for this username" in refused.json()["error"]["message"]


def test_a_staff_member_signs_in_as_before(client, staff_user):
    response = admin_login(client, "moderator", PASSWORD)
    assert (response.status_code, response["Location"]) == (302, "/admin/")
    assert client.get("/admin/", secure=True).status_code == 200


def test_the_login_page_itself_costs_nothing(client, staff_user):
    for _ in range(BURST * 3):
        assert client.get("/admin/login/", secure=True, REMOTE_ADDR="10.3.0.1").status_code == 200
    assert admin_login(client, "moderator", PASSWORD, ip="10.3.0.1").status_code == 302
