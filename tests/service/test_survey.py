"""Survey pages: invitations (single use, expiry, cooldown), the form, impressions, the rate."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import duckdb
import pytest

import rox

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from rox.service import ServiceConfig, create_app
from rox.service.invitations import invite
from rox.service.keys import create_key
from rox.service.survey import STRINGS
from rox.service.tokens import sign, subkey

SECRET = "survey-secret"


@pytest.fixture
def site(tmp_path):
    path = tmp_path / "survey.duckdb"
    with rox.open(str(path)) as ws:
        keys = {s: create_key(ws, s, [s])[1] for s in ("write", "admin")}
    config = ServiceConfig(str(path), client_rate=0, key_rate=0, secret=SECRET)
    client = TestClient(create_app(config))
    client.__enter__()
    yield client, keys, path
    client.__exit__(None, None, None)


def _invite(client, keys, **over):
    body = {"customer_id": "C1", "touchpoint": "delivery", "metric": "nps"}
    body.update(over)
    return client.post(
        "/v1/invitations", json=body, headers={"Authorization": f"Bearer {keys['admin']}"}
    )


def _rows(client, path, sql):
    client.__exit__(None, None, None)  # the writer closes the workspace: read the file
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_an_invitation_is_made_through_the_admin_api_only(site):
    client, keys, _ = site
    body = {"customer_id": "C1", "touchpoint": "delivery"}
    assert client.post("/v1/invitations", json=body).status_code == 401
    write = {"Authorization": f"Bearer {keys['write']}"}
    assert client.post("/v1/invitations", json=body, headers=write).status_code == 403
    made = _invite(client, keys)
    assert made.status_code == 201
    answer = made.json()
    assert answer["url"] == f"/s/{answer['token']}"
    assert _invite(client, keys, metric="pizza").status_code == 422
    assert _invite(client, keys, language="de").status_code == 422
    assert _invite(client, keys, hours=0).status_code == 422
    brief = _invite(client, keys, hours=1e-6)  # valid when made (its expiry is rounded up)
    assert brief.status_code == 201


@pytest.mark.parametrize(("metric", "low", "high"), [("nps", 0, 10), ("csat", 1, 5), ("ces", 1, 7)])
def test_the_form_is_an_accessible_plain_html_form_on_the_metrics_scale(site, metric, low, high):
    client, keys, _ = site
    url = _invite(client, keys, metric=metric).json()["url"]
    page = client.get(url)
    assert page.status_code == 200
    text = page.text
    assert '<html lang="en">' in text and 'name="viewport"' in text
    assert "<script" not in text  # works without JavaScript: there is none
    assert "<fieldset><legend>" in text and '<label for="comment">' in text
    values = [int(v) for v in re.findall(r'name="score" value="(\d+)"', text)]
    assert values == list(range(low, high + 1))
    assert text.count("<label><input") == high - low + 1  # every choice has its label
    assert f'<form method="post" action="{url}">' in text


def test_the_form_speaks_italian_when_the_invitation_says_so(site):
    client, keys, _ = site
    url = _invite(client, keys, metric="csat", language="it").json()["url"]
    text = client.get(url).text
    assert '<html lang="it">' in text
    assert "Quanto sei soddisfatto di delivery?" in text and "Invia" in text
    assert set(STRINGS["it"]) == set(STRINGS["en"])


def test_a_hostile_touchpoint_is_shown_as_text(site):
    client, keys, _ = site
    url = _invite(client, keys, touchpoint="<script>alert(1)</script>").json()["url"]
    text = client.get(url).text
    assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_submitting_stores_the_response_once_second_use_is_409(site):
    client, keys, path = site
    made = _invite(client, keys, customer_id="C7", touchpoint="dealer").json()
    client.get(made["url"])
    first = client.post(made["url"], data={"score": "3", "comment": "slow <b>"})
    assert first.status_code == 201 and STRINGS["en"]["thanks"] in first.text
    assert client.post(made["url"], data={"score": "3"}).status_code == 409
    assert client.post(made["url"], data={"score": "9"}).status_code == 409
    assert client.get(made["url"]).status_code == 409
    rows = _rows(
        client,
        path,
        "SELECT response_id, customer_id, touchpoint, metric, score, comment, channel, language "
        "FROM responses",
    )
    rid = f"inv-{made['invitation_id']}"
    assert rows == [(rid, "C7", "dealer", "nps", 3.0, "slow <b>", "survey", "en")]


@pytest.mark.parametrize("score", ["", "11", "-1", "x", "3.5"])
def test_a_score_off_the_scale_shows_the_form_again(site, score):
    client, keys, _ = site
    url = _invite(client, keys).json()["url"]
    again = client.post(url, data={"score": score, "comment": "kept"})
    assert again.status_code == 422
    assert STRINGS["en"]["no_score"] in again.text and ">kept</textarea>" in again.text


def test_an_expired_invitation_is_410_and_a_forged_one_404(site):
    client = site[0]
    payload = {"i": "abc", "c": "C1", "t": "delivery", "m": "nps", "l": "en"}
    # made two minutes ago, valid for one
    token = sign(subkey(SECRET.encode(), "invitation"), payload, ttl=60, now=time.time() - 120)
    assert client.get(f"/s/{token}").status_code == 410
    assert client.post(f"/s/{token}", data={"score": "5"}).status_code == 410
    _, other = invite(b"another secret", "C1", "delivery", "nps")
    assert client.get(f"/s/{other}").status_code == 404
    assert client.get("/s/not-a-token").status_code == 404
    # a token signed for sessions is not an invitation (another subkey), whatever it carries
    session = sign(subkey(SECRET.encode(), "session"), payload, ttl=3600)
    assert client.post(f"/s/{session}", data={"score": "5"}).status_code == 404


def test_a_customer_who_answered_is_in_a_cooldown_at_that_touchpoint(site):
    client, keys, _ = site
    url = _invite(client, keys, customer_id="C2", touchpoint="delivery").json()["url"]
    assert client.post(url, data={"score": "8"}).status_code == 201
    cooled = _invite(client, keys, customer_id="C2", touchpoint="delivery")
    assert cooled.status_code == 409 and "cooldown" in cooled.json()["detail"]
    assert _invite(client, keys, customer_id="C2", touchpoint="service").status_code == 201
    assert _invite(client, keys, customer_id="C3", touchpoint="delivery").status_code == 201


def test_no_cooldown_when_it_is_zero(tmp_path):
    path = tmp_path / "nocool.duckdb"
    with rox.open(str(path)) as ws:
        admin = create_key(ws, "a", ["admin"])[1]
    config = ServiceConfig(str(path), client_rate=0, key_rate=0, survey_cooldown_days=0)
    with TestClient(create_app(config)) as client:
        keys = {"admin": admin}
        url = _invite(client, keys).json()["url"]
        assert client.post(url, data={"score": "8"}).status_code == 201
        assert _invite(client, keys).status_code == 201


def test_impressions_are_recorded_apart_and_give_the_response_rate(site):
    client, keys, path = site
    urls = [_invite(client, keys, customer_id=f"C{i}").json()["url"] for i in range(4)]
    for url in urls:
        client.get(url)
    client.get(urls[0])  # shown twice: still one invitation shown
    client.post(urls[0], data={"score": "10"})
    client.post(urls[1], data={"score": "2"})
    _invite(client, keys, customer_id="C9")  # never shown: not in the rate
    before = datetime.now(UTC)
    shown = _rows(client, path, "SELECT invitation_id, customer_id, shown_at FROM rox_impressions")
    assert len(shown) == 5 and {c for _, c, _ in shown} == {"C0", "C1", "C2", "C3"}
    assert all(at <= before for *_, at in shown)
    from rox.service.invitations import response_rate

    with rox.open(str(path), read_only=True) as ws:
        rate = response_rate(ws)
    assert rate.to_dict("records") == [
        {"touchpoint": "delivery", "shown": 4, "answered": 2, "rate": 0.5}
    ]


def test_an_erased_customer_leaves_no_impression(site):
    client, keys, path = site
    url = _invite(client, keys, customer_id="GONE").json()["url"]
    client.get(url)
    erased = client.post(
        "/v1/customers/GONE/erase", headers={"Authorization": f"Bearer {keys['admin']}"}
    )
    assert erased.status_code == 200
    assert _rows(client, path, "SELECT count(*) FROM rox_impressions") == [(0,)]
