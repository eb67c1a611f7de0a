"""Cross-site requests, DNS rebinding and remote access against the dashboard (Flask's test client)."""

import re

import pytest

from scones.registry import APPROVED, PENDING
from scones.ui.app import create_app
from scones.ui.guard import CSRF_HEADER, Guard, host_name, is_loopback

ORIGIN = "http://127.0.0.1:8090"


@pytest.fixture
def pending(workspace):
    """A workspace whose registry holds v1, pending approval."""
    workspace.registry().register(workspace.model_group, "s3://b/m/model.tar.gz", "image:1",
                                  {"multiclass_classification_metrics": {"accuracy": {"value": 0.9}}})
    return workspace


def _client(settings, guard=None):
    app = create_app(settings, guard=guard or Guard.for_binding())
    return app.test_client(), app


def _csrf(client, **kwargs) -> str:
    html = client.get("/", base_url=ORIGIN, **kwargs).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _status(settings) -> str:
    return settings.registry().get_version(settings.model_group, 1).status


def test_dashboard_approve_cross_origin_post_refused_and_changes_nothing(pending):
    client, _ = _client(pending)
    token = _csrf(client)
    response = client.post("/versions/1/Approved", base_url=ORIGIN, data={"csrf_token": token},
                           headers={"Origin": "http://evil.example"})
    assert response.status_code == 403
    assert "cross-site" in response.get_data(as_text=True)
    assert _status(pending) == PENDING


def test_dashboard_approve_foreign_referer_refused(pending):
    client, _ = _client(pending)
    response = client.post("/versions/1/Approved", base_url=ORIGIN, data={"csrf_token": _csrf(client)},
                           headers={"Referer": "http://evil.example/page.html"})
    assert response.status_code == 403
    assert _status(pending) == PENDING


def test_dashboard_approve_without_csrf_token_refused(pending):
    """The attack as measured: a form POST with no cookie and no token (here even with no Origin)."""
    client, _ = _client(pending)
    for data in ({}, {"csrf_token": "guessed"}):
        response = client.post("/versions/1/Approved", base_url=ORIGIN, data=data)
        assert response.status_code == 403
        assert "CSRF" in response.get_data(as_text=True)
    assert _status(pending) == PENDING


def test_dashboard_approve_own_form_records_who(pending):
    client, _ = _client(pending)
    response = client.post("/versions/1/Approved", base_url=ORIGIN, data={"csrf_token": _csrf(client),
                                                                          "reason": "looks good"},
                           headers={"Origin": ORIGIN})
    assert response.status_code == 302
    version = pending.registry().get_version(pending.model_group, 1)
    assert version.status == APPROVED
    import getpass

    assert version.approval_description == f"looks good [by {getpass.getuser()}, dashboard]"


def test_a_decision_without_a_reason_changes_nothing_and_says_why(pending):
    client, _ = _client(pending)
    for reason in ("", "  ", "ok"):
        response = client.post("/versions/1/Approved", base_url=ORIGIN, data={"csrf_token": _csrf(client),
                                                                              "reason": reason},
                               headers={"Origin": ORIGIN})
        assert response.status_code == 302 and "say+why" in response.headers["Location"]
    assert _status(pending) == PENDING
    assert [h.status for h in pending.registry().history(pending.model_group, 1)] == [PENDING]


def test_dashboard_csrf_header_works_for_scripts(pending):
    client, _ = _client(pending)
    response = client.post("/versions/1/Rejected", base_url=ORIGIN, headers={CSRF_HEADER: _csrf(client)},
                           data={"reason": "scripted"})
    assert response.status_code == 302
    assert _status(pending) == "Rejected"


def test_dashboard_state_changes_only_by_post(pending):
    client, _ = _client(pending)
    assert client.get("/versions/1/Approved", base_url=ORIGIN).status_code == 405
    assert _status(pending) == PENDING


def test_dashboard_forged_host_refused(pending):
    """DNS rebinding: a foreign name that resolves to 127.0.0.1 cannot read the page."""
    client, _ = _client(pending)
    response = client.get("/", base_url="http://rebind.evil.example:8090")
    assert response.status_code == 400
    assert "--allow-host" in response.get_data(as_text=True)
    assert client.get("/", base_url="http://localhost:8090").status_code == 200
    assert client.get("/", base_url="http://[::1]:8090").status_code == 200


def test_dashboard_allow_host_adds_a_name(pending):
    client, _ = _client(pending, Guard.for_binding("127.0.0.1", ("dash.internal",)))
    assert client.get("/", base_url="http://dash.internal:8090").status_code == 200


def test_dashboard_beyond_loopback_requires_the_access_token(pending):
    guard = Guard.for_binding("0.0.0.0", ("box.internal",))
    assert guard.access_token, "a token is generated when the dashboard is reachable from other machines"
    client, _ = _client(pending, guard)
    base = "http://box.internal:8090"
    assert client.get("/", base_url=base).status_code == 401
    assert client.get("/?token=wrong", base_url=base).status_code == 401
    traded = client.get(f"/?token={guard.access_token}", base_url=base)
    assert traded.status_code == 302 and "token=" not in traded.headers["Location"]
    assert "SameSite=Strict" in traded.headers["Set-Cookie"] and "HttpOnly" in traded.headers["Set-Cookie"]
    assert client.get("/", base_url=base).status_code == 200, "the cookie now authenticates"
    fresh, _ = _client(pending, guard)
    bearer = {"Authorization": f"Bearer {guard.access_token}"}
    assert fresh.get("/", base_url=base, headers=bearer).status_code == 200
    # the token alone does not make a cross-site POST acceptable
    response = fresh.post("/versions/1/Approved", base_url=base, headers={**bearer, "Origin": "http://evil.example",
                                                                          CSRF_HEADER: guard.csrf_token})
    assert response.status_code == 403
    assert _status(pending) == PENDING


def test_dashboard_loopback_binding_needs_no_token():
    assert Guard.for_binding("127.0.0.1").access_token is None
    assert Guard.for_binding("127.0.0.1", access_token="chosen").access_token == "chosen"


@pytest.mark.parametrize(("header", "name"), [("127.0.0.1:8090", "127.0.0.1"), ("[::1]:8090", "::1"),
                                              ("LocalHost", "localhost"), ("evil.example:80", "evil.example")])
def test_guard_host_name(header, name):
    assert host_name(header) == name


def test_guard_is_loopback():
    assert is_loopback("127.0.0.2") and is_loopback("[::1]") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5") and not is_loopback("box.internal")


def test_ui_help_explains_the_protection(capsys):
    from scones.cli import main

    with pytest.raises(SystemExit):
        main(["ui", "--help"])
    out = capsys.readouterr().out
    assert "--allow-host" in out and "CSRF" in out and "access token" in out
