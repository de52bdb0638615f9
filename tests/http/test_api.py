"""The read-only JSON API against a real ``opdash serve`` process.

Why: scripts and other tools read opdash through this API, so every route, status code and
refusal is part of the product: answers must match the artifacts exactly (checked here against
the files themselves, not against opdash), nothing but GET/HEAD may be accepted, a run id must
never reach anything but the catalog, and no secret may leave in any answer.
"""

from __future__ import annotations

import html
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from opdash import api
from tests.fixtures import write_lines
from tests.servers import copy_demo, opdash_serve

NOW = datetime.now(UTC).replace(microsecond=0)
LIVE = "live-now"
SECRETS = ("k-live-1", "p-live-2", "p-live-3", "abc123", "tok-in-payload", "bearer-xyz")
EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def live_events() -> list[dict]:
    """60 events of the live run, a minute apart, the last one a minute ago."""
    events = []
    for i in range(60):
        event = {
            "event_id": f"live-{i:03d}",
            "event_type": "run.heartbeat" if i % 3 else "tool.called",
            "occurred_at": iso(NOW - timedelta(minutes=60 - i)),
            "actor": {"type": "ai_agent", "id": "live-agent"},
            "payload": {"n": i},
        }
        events.append(event)
    events[-2]["payload"] = {"title": EVIL, "auth": {"token": "tok-in-payload"}, "max_tokens": 7}
    events[-3]["payload"] = {"note": "Authorization: Bearer bearer-xyz sent"}
    return events


def live_alerts() -> list[dict]:
    def alert(i: int, severity: str, minutes_ago: int, resolved: int | None, **more) -> dict:
        return {
            "alert_id": f"a{i}",
            "raised_at": iso(NOW - timedelta(minutes=minutes_ago)),
            "severity": severity,
            "title": f"alert {i}",
            "message": f"message {i}",
            "resolved_at": None if resolved is None else iso(NOW - timedelta(minutes=resolved)),
            **more,
        }

    return [
        alert(1, "critical", 50, None, title=EVIL, message="retry with token=abc123 later"),
        alert(2, "warning", 40, 30),
        alert(3, "info", 30, None),
        alert(4, "warning", 20, None),
        alert(5, "critical", 10, 5),
    ]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = copy_demo(tmp_path_factory.mktemp("api") / "artifacts")
    live = root / "runs" / LIVE
    live.mkdir()
    (live / "run.json").write_text(
        json.dumps(
            {
                "run_id": LIVE,
                "name": EVIL,
                "kind": "live",
                "status": "running",
                "started_at": iso(NOW - timedelta(hours=2)),
                "heartbeat_at": iso(NOW - timedelta(seconds=30)),
                "params": {
                    "api_key": "k-live-1",
                    "nested": [{"db": {"Password": "p-live-2"}}],
                    "dsn": "postgres://u@h/db?sslmode=require&password=p-live-3",
                    "max_tokens": 512,
                },
                "tags": ["live"],
            }
        )
    )
    write_lines(live / "events.jsonl", live_events())
    write_lines(live / "alerts.jsonl", live_alerts())
    broken = root / "runs" / "broken-run"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")
    return root


@pytest.fixture(scope="module")
def url(folder: Path):
    # stale after an hour: the live run (a heartbeat 30 s before the module was loaded) stays
    # fresh however slowly a CI box runs; the demo's running runs are weeks old
    with opdash_serve(
        folder, "--refresh", "0", "--stale-after", "3600", ready_query="health"
    ) as base:
        yield base


def call(url: str, path: str, method: str = "GET") -> tuple[int, dict, dict]:
    request = urllib.request.Request(url + path.lstrip("/"), method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, headers, body = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        status, headers, body = exc.code, dict(exc.headers), exc.read()
    is_json = headers.get("Content-Type", "").startswith("application/json")
    return status, headers, json.loads(body) if body and is_json else {}


def call_raw(url: str, path: str) -> tuple[int, dict, bytes]:
    with urllib.request.urlopen(url + path, timeout=30) as response:
        return response.status, dict(response.headers), response.read()


def get(url: str, path: str) -> dict:
    status, headers, data = call(url, path)
    assert status == 200, (path, data)
    assert headers["Content-Type"].startswith("application/json")
    return data


# -- answers -------------------------------------------------------------------------------------


def test_health_names_what_is_wrong(url: str) -> None:
    health = get(url, "health")
    assert health["status"] == "degraded"
    assert health["events"] == 1073 + 60 and health["runs"] == 6 and health["quarantined"] == 5
    assert health["last_event_at"] == (NOW - timedelta(minutes=1)).isoformat()
    reasons = " | ".join(health["reasons"])
    assert "5 records quarantined" in reasons
    assert "1 runs unreadable: broken-run" in reasons
    # the demo's two running runs stopped beating in 2026-11; the live one beat 30 s ago
    assert "runs stale: planner-live-20261120, scanner-live-20261120" in reasons
    # the data version and the read that made it (the start-up read of the whole folder)
    assert health["data_version"] >= 1 and 0 < health["refresh_seconds"] < 120
    assert health["files_pending"] == []


def test_runs_list_every_run_with_status_staleness_and_open_alerts(url: str) -> None:
    listed = {r["run_id"]: r for r in get(url, "api/runs")["runs"]}
    assert set(listed) == {
        LIVE,
        "broken-run",
        "planner-live-20261120",
        "scanner-live-20261120",
        "coach-nightly-20261119",
        "backtest-20261118",
    }
    live = listed[LIVE]
    assert (live["status"], live["stale"], live["events"]) == ("running", False, 60)
    assert live["open_alerts"] == 3  # a1, a3, a4; a2 and a5 were resolved
    assert live["open_by_severity"] == {"critical": 1, "info": 1, "warning": 1, "other": 0}
    assert listed["broken-run"]["error"].startswith("unreadable")
    assert listed["planner-live-20261120"]["stale"] is True
    assert listed["backtest-20261118"]["stale"] is False  # not running: never stale


def test_one_run_holds_metadata_counts_last_events_and_open_alerts(url: str) -> None:
    run = get(url, f"api/runs/{LIVE}")
    assert run["run"]["run_id"] == LIVE and run["stale"] is False
    assert run["params"]["api_key"] == "•••"
    assert run["params"]["nested"] == [{"db": {"Password": "•••"}}]
    assert run["params"]["dsn"] == "postgres://u@h/db?sslmode=require&password=•••"
    assert run["params"]["max_tokens"] == 512  # a count, not a secret
    assert run["counts"]["events"] == 60
    assert run["counts"]["alerts"] == {"critical": 2, "warning": 2, "info": 1, "other": 0}
    assert [e["event_id"] for e in run["last_events"]] == [f"live-{i:03d}" for i in range(40, 60)]
    assert [a["alert_id"] for a in run["open_alerts"]] == ["a4", "a3", "a1"]


def test_tail_is_the_last_n_events_oldest_first(url: str) -> None:
    expected = [e["event_id"] for e in live_events()]
    assert [e["event_id"] for e in get(url, f"api/runs/{LIVE}/tail")["events"]] == expected[-50:]
    for limit in (1, 7, 60, 1000):
        events = get(url, f"api/runs/{LIVE}/tail?limit={limit}")["events"]
        assert [e["event_id"] for e in events] == expected[-limit:]
    event = get(url, f"api/runs/{LIVE}/tail?limit=1")["events"][0]
    assert event["occurred_at"] == (NOW - timedelta(minutes=1)).isoformat()
    assert event["actor"] == {"type": "ai_agent", "id": "live-agent"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["a4", "a3", "a1", "a5", "a2"]),
        ("?state=open", ["a4", "a3", "a1"]),
        ("?state=resolved", ["a5", "a2"]),
        ("?severity=critical", ["a1", "a5"]),
        ("?severity=warning&state=open", ["a4"]),
        ("?limit=2", ["a4", "a3"]),
        ("?state=all&severity=info&limit=1000", ["a3"]),
    ],
)
def test_alerts_filter_by_severity_and_state(url: str, query: str, expected: list[str]) -> None:
    alerts = get(url, f"api/runs/{LIVE}/alerts{query}")["alerts"]
    assert [a["alert_id"] for a in alerts] == expected


def test_no_secret_leaves_in_any_answer_and_markup_stays_text(url: str) -> None:
    paths = ["health", "api/runs", f"api/runs/{LIVE}", f"api/runs/{LIVE}/tail?limit=1000"]
    paths += [f"api/runs/{LIVE}/alerts?limit=1000", "api/status/snapshot.json"]
    for path in paths:
        with urllib.request.urlopen(url + path, timeout=30) as response:
            raw = response.read().decode("utf-8")
        for secret in SECRETS:
            assert secret not in raw, (path, secret)
        assert "<" not in raw and ">" not in raw, path  # written as \u003c / \u003e
    run = get(url, f"api/runs/{LIVE}")
    assert run["run"]["name"] == EVIL  # the same text, only JSON-escaped
    payload = get(url, f"api/runs/{LIVE}/tail?limit=2")["events"][0]["payload"]
    assert payload == {"title": EVIL, "auth": {"token": "•••"}, "max_tokens": 7}
    alert = get(url, f"api/runs/{LIVE}/alerts?severity=critical&state=open")["alerts"][0]
    assert alert["message"] == "retry with token=••• later"


# -- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "run_id",
    ["nope", "..", "..%2F..%2Fetc", "%2e%2e", "%252e%252e%252fetc", "a%2Fb", ".hidden",
     "-x", "live-now%00", "live-now%2F..", "runs", "%2E%2E%5C"],
)  # fmt: skip
def test_unknown_or_malformed_run_ids_are_404(url: str, run_id: str) -> None:
    for suffix in ("", "/tail", "/alerts"):
        status, _headers, data = call(url, f"api/runs/{run_id}{suffix}")
        assert status == 404, (run_id, suffix, data)
        assert data["error"] in ("run not found", "no such route")


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "limit=abc", "limit=-1", "limit=1.5", "limit=", "severity=bad",
     "state=closed"],
)  # fmt: skip
def test_a_bad_query_value_is_400_naming_it(url: str, query: str) -> None:
    route = "alerts" if query.startswith(("severity", "state")) else "tail"
    status, _headers, data = call(url, f"api/runs/{LIVE}/{route}?{query}")
    assert status == 400, data
    name, _, value = query.partition("=")
    assert f"bad {name} '{value}'" in data["error"]


def test_only_get_and_head_are_answered(url: str) -> None:
    paths = ["health", "api/runs", f"api/runs/{LIVE}", f"api/runs/{LIVE}/tail"]
    paths += [f"api/runs/{LIVE}/alerts", "api/status/snapshot.json", "api/status/snapshot.html"]
    paths += ["api/openapi.json", "api/nowhere"]
    for path in paths:
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            status, headers, data = call(url, path, method)
            assert status == 405, (path, method)
            assert headers["Allow"] == "GET, HEAD" and "read-only" in data["error"]
    for path in paths[:-1]:
        get_status, get_headers, _ = call(url, path)
        head = urllib.request.Request(url + path, method="HEAD")
        with urllib.request.urlopen(head, timeout=30) as response:
            assert response.status == 200 and response.read() == b""
            assert response.headers["Content-Type"] == get_headers["Content-Type"]


def test_openapi_documents_every_route_and_each_answers(url: str) -> None:
    document = get(url, "api/openapi.json")
    assert document["openapi"].startswith("3.")
    paths = set(document["paths"])
    assert paths == {
        "/health",
        "/api/runs",
        "/api/runs/{run_id}",
        "/api/runs/{run_id}/tail",
        "/api/runs/{run_id}/alerts",
        "/api/status/snapshot.json",
        "/api/status/snapshot.html",
        "/api/spec",
        "/api/openapi.json",
    }
    for path, item in document["paths"].items():
        assert set(item) == {"get"}
        (media,) = item["get"]["responses"]["200"]["content"]
        status, headers, _body = call_raw(url, path.replace("{run_id}", LIVE).lstrip("/"))
        assert status == 200 and headers["Content-Type"].startswith(media), path


def test_the_spec_being_served_is_its_json_twin(url: str) -> None:
    """/api/spec: the pages the dashboard is built from (the demo's dashboard.yaml) and what the
    start-up check found (the demo's quarantined records)."""
    served = get(url, "api/spec")
    assert served["spec_file"] == "dashboard.yaml"
    titles = [page["title"] for page in served["spec"]["pages"]]
    assert titles[0] == "Overview" and "State" in titles
    assert {p["area"] for p in served["problems"]} == {"data"}
    assert all(p["file"] == "events/coach/coach.ndjson" for p in served["problems"])


def test_status_snapshot_now_as_json_and_as_a_self_contained_page(url: str) -> None:
    whole = get(url, "api/status/snapshot.json")
    assert {r["run_id"] for r in whole["runs"]} >= {LIVE, "broken-run"}
    assert [s["event_type"] for s in whole["funnel"]["steps"]][:2] == [
        "signal.created",
        "candidate.created",
    ]
    assert {a["alert_id"] for a in whole["open_alerts"] if a["run_id"] == LIVE} == {
        "a1",
        "a3",
        "a4",
    }
    status, headers, page = call_raw(url, "api/status/snapshot.html")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    text = page.decode("utf-8")
    assert html.escape(EVIL) in text and "<script" not in text and "<img" not in text
    for secret in SECRETS:
        assert secret not in text


def test_stale_after_is_the_servers_setting(folder: Path) -> None:
    """A month without a sign of life is not stale when the threshold is a year."""
    with opdash_serve(
        folder, "--refresh", "0", "--stale-after", "31536000", ready_query="health"
    ) as base:
        listed = get(base, "api/runs")["runs"]
        assert [r["run_id"] for r in listed if r["stale"]] == []
        assert "stale" not in " ".join(get(base, "health")["reasons"])


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_a_bad_stale_after_is_one_line_and_exit_2(folder: Path, value: str) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "opdash.cli", "serve", str(folder), "--stale-after", value],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert value in done.stderr and "Traceback" not in done.stderr


def test_a_login_guards_the_pages_and_every_route(folder: Path) -> None:
    """--basic-auth works out of the box (no cookie secret given): nothing is answered before
    the login, everything after it."""
    import http.cookiejar
    import urllib.parse

    with opdash_serve(
        folder, "--refresh", "0", "--basic-auth", "pw-1", ready_query="login"
    ) as base:
        for route in ["health", "api/runs", f"api/runs/{LIVE}/tail", "api/status/snapshot.html"]:
            status, _headers, data = call(base, route)
            assert status == 401 and "log in" in data["error"], route
        no_redirect = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as page:
            no_redirect.open(base, timeout=30)
        assert page.value.code == 302 and "/login" in page.value.headers["Location"]

        def session(password: str):
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            form = urllib.parse.urlencode({"username": "op", "password": password}).encode()
            opener.open(base + "login", data=form, timeout=30).read()
            return opener

        with pytest.raises(urllib.error.HTTPError) as refused:
            session("wrong").open(base + "api/runs", timeout=30)
        assert refused.value.code == 401
        opener = session("pw-1")
        with opener.open(base + "api/runs", timeout=30) as response:
            assert response.status == 200 and json.loads(response.read())["runs"]
        with opener.open(base, timeout=30) as response:
            assert response.status == 200


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--oauth-key", "k"], "--oauth-key needs --oauth-provider"),
        (["--basic-auth", "x", "--oauth-provider", "github"], "not both"),
        (["--oauth-provider", "github", "--oauth-extra-params", "{bad"], "'{bad'"),
        (["--basic-auth", ""], "--basic-auth needs"),
    ],
)
def test_bad_login_options_are_one_line_and_exit_2(folder: Path, args, named: str) -> None:
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "opdash.cli", "serve", str(folder), "--port", "1", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and named in done.stderr and "Traceback" not in done.stderr


# -- the OpenAPI document against the server, by schemathesis -----------------------------------


def test_every_route_answers_as_its_openapi_document_says(url: str) -> None:
    """schemathesis generates paths and queries (well-formed and not) for every documented
    operation: no server error, and every status, content type, header and body as documented.
    (Driven through Hypothesis directly: schemathesis' pytest plugin does not run on pytest 9.)"""
    schema = schemathesis.openapi.from_url(url + "api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    # every route but the document itself (schemathesis leaves its own schema out)
    assert len(operations) == len(api.ROUTES) - 1

    for operation in operations:
        has_parameters = bool(list(operation.iter_parameters()))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode == GenerationMode.NEGATIVE and not has_parameters:
                continue  # nothing to get wrong
            cases = operation.as_strategy(generation_mode=mode)
            if "{run_id}" in operation.path and mode == GenerationMode.POSITIVE:
                cases = cases | cases.map(of_the_live_run)  # real runs too, not only 404s

            @given(case=cases)
            @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
            def conforms(case) -> None:
                case.call_and_validate()

            conforms()


def of_the_live_run(case):
    case.path_parameters = {**(case.path_parameters or {}), "run_id": LIVE}
    return case


def test_an_unknown_query_parameter_is_400_with_a_suggestion(url: str) -> None:
    status, _headers, data = call(url, f"api/runs/{LIVE}/tail?limt=5")
    assert status == 400
    assert data["error"] == (
        "unknown query parameter 'limt' — did you mean 'limit'?; this route takes limit"
    )
    status, _headers, data = call(url, "api/runs?verbose=1")
    assert status == 400 and "this route takes none" in data["error"]
