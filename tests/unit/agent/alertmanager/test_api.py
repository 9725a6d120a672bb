"""The Alertmanager v2 API warden serves, over a real HTTP server and real SQLite stores: every
answer validates against Alertmanager v0.35.0's own API definitions (tests/support/alertmanager),
filters and flags behave as Alertmanager's, silences made through it mute what decide sees, bad
input is a 400 that names the problem, an unknown silence a 404, and the bearer token is required."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import jsonschema
import pytest
import requests
import yaml

from agent.alertmanager.api import AlertmanagerApi
from core.alertmanager import fingerprint
from core.event import Alert
from agent.http.server import HttpServer
from policy.silences import SqliteSilenceStore
from core.stores.sqlite import SqliteStore

SPEC = yaml.safe_load((Path(__file__).resolve().parents[3] / "support" / "alertmanager" /
                       "openapi-v0.35.0.yaml").read_text())
NOW = 1_800_000_000.0
TOKEN = "t0ken-0123456789abc"


def check(definition: str, doc) -> None:
    schema = {"definitions": SPEC["definitions"], "$ref": f"#/definitions/{definition}"}
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(doc)


def rfc(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def alert(aid: str, rule: str, entity: str, status: str = "firing", **labels) -> Alert:
    return Alert(id=aid * 32, rule=rule, title=f"{rule} on {entity}", severity="high", entity=entity,
                 group_key=entity, status=status, first_seen=NOW - 600, last_seen=NOW - 60, detector="d/x",
                 labels={"alertname": rule, "severity": "high", "entity": entity, **labels}, updated=NOW - 60,
                 routes=({"responder": "webhook/oncall", "dry_run": False},))


@pytest.fixture
def api(tmp_path):
    store = SqliteStore(tmp_path / "w.db")
    store.upsert_alerts([alert("a", "gpu-leak", "gpu-1"), alert("b", "gpu-leak", "gpu-2"),
                         alert("c", "prompt-injection", "llm-chat", **{"client.id": "u7"}),
                         alert("d", "gpu-leak", "gpu-3", status="resolved"),
                         alert("e", "straggler", "gpu-4", status="suppressed", suppressed_by="inhibit:gpu:" + "a" * 32)])
    silences = SqliteSilenceStore(tmp_path / "w.db")
    a = AlertmanagerApi(lambda: store, lambda: silences, external_url="http://warden:8080", clock=lambda: NOW)
    srv = HttpServer("127.0.0.1", 0, token=TOKEN, rate_limit_rps=0)
    srv.add_routes(a.routes())
    srv.start()
    host, port = srv.address
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {TOKEN}"
    s.base = f"http://{host}:{port}/api/v2"
    s.silences = silences
    yield s
    s.close()
    srv.close()


def test_status_and_receivers_are_alertmanager_shaped(api):
    r = api.get(api.base + "/status")
    assert r.status_code == 200
    check("alertmanagerStatus", r.json())
    assert r.json()["cluster"]["status"] == "disabled"
    assert api.get(api.base + "/receivers").json() == [{"name": "warden"}, {"name": "webhook/oncall"}]


def test_alerts_are_the_open_ones_with_alertmanager_labels(api):
    r = api.get(api.base + "/alerts")
    assert r.status_code == 200
    check("gettableAlerts", r.json())
    got = {a["labels"]["warden_alert_id"][0]: a for a in r.json()}
    assert sorted(got) == ["a", "b", "c", "e"]                  # resolved "d" is gone, as in Alertmanager
    a = got["a"]
    assert a["labels"]["alertname"] == "gpu-leak" and a["fingerprint"] == fingerprint(a["labels"])
    assert a["generatorURL"] == "http://warden:8080/ui/#/alerts/" + "a" * 32
    assert a["receivers"] == [{"name": "webhook/oncall"}] and a["status"]["state"] == "active"
    assert got["c"]["labels"]["client_id"] == "u7"
    assert got["e"]["status"] == {"state": "suppressed", "silencedBy": [], "inhibitedBy": ["a" * 32], "mutedBy": []}


@pytest.mark.parametrize("query, expected", [
    ({"filter": 'alertname="gpu-leak"'}, ["a", "b"]),
    ({"filter": ["alertname=~gpu.*", 'entity!="gpu-1"']}, ["b"]),
    ({"filter": "{severity=\"high\", alertname!~\"gpu.*|straggler\"}"}, ["c"]),
    ({"inhibited": "false"}, ["a", "b", "c"]),
    ({"active": "false"}, ["e"]),
    ({"receiver": "webhook/.*"}, ["a", "b", "c", "e"]),
    ({"receiver": "slack"}, []),
])
def test_alert_filters(api, query, expected):
    r = api.get(api.base + "/alerts", params=query)
    assert r.status_code == 200, r.text
    assert sorted(a["labels"]["warden_alert_id"][0] for a in r.json()) == expected


def test_alert_groups(api):
    r = api.get(api.base + "/alerts/groups")
    check("alertGroups", r.json())
    assert [(g["labels"]["alertname"], len(g["alerts"])) for g in r.json()] == [
        ("gpu-leak", 2), ("prompt-injection", 1), ("straggler", 1)]


def silence_body(**kw):
    body = {"matchers": [{"name": "alertname", "value": "gpu-leak", "isRegex": False, "isEqual": True}],
            "startsAt": rfc(NOW - 10), "endsAt": rfc(NOW + 7200), "createdBy": "ana", "comment": "maintenance"}
    body.update(kw)
    return body


def test_silence_lifecycle_create_get_list_expire(api):
    r = api.post(api.base + "/silences", json=silence_body())
    assert r.status_code == 200, r.text
    sid = r.json()["silenceID"]
    got = api.get(f"{api.base}/silence/{sid}").json()
    check("gettableSilence", got)
    assert got["status"]["state"] == "active" and got["createdBy"] == "ana"
    assert got["startsAt"] == rfc(NOW)                       # a start in the past becomes now
    stored = api.silences.get(sid)
    assert stored.silences({"alertname": "gpu-leak", "entity": "gpu-9"}, NOW)      # what decide matches
    alerts = {a["labels"]["warden_alert_id"][0]: a["status"] for a in api.get(api.base + "/alerts").json()}
    assert alerts["a"] == {"state": "suppressed", "silencedBy": [sid], "inhibitedBy": [], "mutedBy": []}
    assert alerts["c"]["state"] == "active"
    assert [a["labels"]["warden_alert_id"][0] for a in
            api.get(api.base + "/alerts", params={"silenced": "false", "inhibited": "false"}).json()] == ["c"]
    listed = api.get(api.base + "/silences").json()
    check("gettableSilences", listed)
    assert [s["id"] for s in listed] == [sid]
    assert api.get(api.base + "/silences", params={"filter": 'alertname="other"'}).json() == []
    assert api.delete(f"{api.base}/silence/{sid}").status_code == 200
    assert api.get(f"{api.base}/silence/{sid}").json()["status"]["state"] == "expired"
    assert not api.silences.get(sid).silences({"alertname": "gpu-leak"}, NOW + 1)
    assert api.delete(f"{api.base}/silence/{sid}").status_code == 400      # already expired


def test_silence_update_by_id_keeps_the_id(api):
    sid = api.post(api.base + "/silences", json=silence_body()).json()["silenceID"]
    r = api.post(api.base + "/silences", json=silence_body(id=sid, comment="longer", endsAt=rfc(NOW + 99999)))
    assert r.json() == {"silenceID": sid}
    assert api.get(f"{api.base}/silence/{sid}").json()["comment"] == "longer"


@pytest.mark.parametrize("body, says", [
    ({"matchers": []}, "at least one matcher"),
    ({"matchers": [{"name": "alertname", "value": ".*", "isRegex": True, "isEqual": True}]}, "empty string"),
    ({"matchers": [{"name": "alertname", "value": "(", "isRegex": True}]}, "invalid regex"),
    ({"matchers": [{"name": "a", "value": 1}]}, "string name and value"),
    ({"matchers": [{"name": " ", "value": "x"}]}, "label name"),
    ({"matchers": [{"name": "a", "value": "x", "isRegex": "yes"}]}, "booleans"),
    ({"endsAt": "tomorrow"}, "RFC 3339"),
    ({"endsAt": rfc(NOW - 20)}, "after startsAt"),
    ({"startsAt": rfc(NOW - 100), "endsAt": rfc(NOW - 5)}, "in the past"),
    ({"createdBy": ""}, "createdBy"),
    ({"id": "no-such-silence"}, "not found"),
])
def test_bad_silences_are_400_or_404_with_the_reason(api, body, says):
    r = api.post(api.base + "/silences", json=silence_body(**body))
    assert r.status_code in (400, 404) and says in r.text, r.text
    assert api.silences.list(include_expired=True) == []


def test_errors_and_auth(api):
    assert api.get(api.base + "/silence/nope").status_code == 404
    assert api.get(api.base + "/alerts", params={"filter": "not a matcher"}).status_code == 400
    assert api.get(api.base + "/alerts", params={"active": "maybe"}).status_code == 400
    assert api.post(api.base + "/silences", data=b"{oops").status_code == 400
    assert requests.get(api.base + "/alerts").status_code == 401


def test_nanosecond_times_from_go_clients(api):
    """amtool writes RFC 3339 with nanoseconds and offsets."""
    r = api.post(api.base + "/silences", json=silence_body(startsAt="2027-02-15T08:00:00.123456789+01:00",
                                                            endsAt="2027-02-15T09:00:00.5Z"))
    s = api.silences.get(r.json()["silenceID"])
    assert s.starts_at == pytest.approx(dt.datetime(2027, 2, 15, 7, 0, 0, 123457, dt.timezone.utc).timestamp())
    assert s.ends_at == pytest.approx(dt.datetime(2027, 2, 15, 9, 0, 0, 500000, dt.timezone.utc).timestamp())
    assert api.get(f"{api.base}/silence/{s.id}").json()["status"]["state"] == "pending"


def test_an_unreachable_store_is_503_not_500(tmp_path):
    def down():
        raise ConnectionError("elasticsearch refused the connection")
    a = AlertmanagerApi(down, down, clock=lambda: NOW)
    srv = HttpServer("127.0.0.1", 0, rate_limit_rps=0)
    srv.add_routes(a.routes())
    srv.start()
    try:
        host, port = srv.address
        for path in ("/alerts", "/alerts/groups", "/silences"):
            r = requests.get(f"http://{host}:{port}/api/v2{path}")
            assert r.status_code == 503 and "unavailable" in r.text, (path, r.text)
    finally:
        srv.close()
