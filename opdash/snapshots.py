"""Deterministic status snapshots: what the dashboard showed at one moment, as files to archive.

The same artifacts and the same "as of" give byte-identical files: sorted keys, no wall-clock
time (without ``--as-of`` the moment is the data's newest timestamp, not the clock), runs and
alerts in a stable order, secrets masked, every string escaped in the HTML. The HTML is one
self-contained page (inline CSS, no script, a Content-Security-Policy that forbids any load).
A manifest (``MANIFEST``, sorted, no time) lists what was written, so the next snapshot into the
same folder deletes the files of runs that have since gone — only files it lists that a
snapshot writes, inside that folder, never anything else.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from opdash.contract import outside_artifacts
from opdash.errors import UsageError
from opdash.jsontext import dumps
from opdash.metrics.funnel import funnel
from opdash.metrics.goals import goals
from opdash.metrics.runs import STALE_AFTER_SECONDS, plain, run_snapshot, run_tail, runs
from opdash.metrics.today import default_steps, today
from opdash.timeutil import format_seconds

TAIL = 50
ALERTS = 1000

_NEWEST_SQL = """
SELECT greatest(
    (SELECT max(occurred_at) FROM events),
    (SELECT max(greatest(started_at, ended_at, heartbeat_at)) FROM runs),
    (SELECT max(greatest(raised_at, resolved_at)) FROM alerts))
"""


def newest_moment(catalog) -> datetime | None:
    """The data's newest timestamp (events, run times, alert times): a snapshot's default."""
    return catalog.fetchall(_NEWEST_SQL)[0][0]


def status(catalog, *, as_of: datetime, stale_after: int = STALE_AFTER_SECONDS) -> dict[str, Any]:
    """The whole status at ``as_of``: today, the loop funnel, goals, runs and open alerts."""
    stats = catalog.stats()
    steps = default_steps(catalog.event_types())
    loop = funnel(catalog.as_of(as_of), steps).to_dict() if len(steps) >= 2 else None
    goal_result = goals(catalog, as_of=as_of).to_dict()
    goal_result["source"] = Path(goal_result["source"]).name if goal_result["source"] else None
    run_result = runs(catalog, as_of=as_of, stale_after=stale_after).to_dict()
    return {
        "as_of": as_of.isoformat(),
        "folder": catalog.root.name,
        "data": {
            "events": stats.events,
            "runs": stats.runs,
            "quarantined": stats.quarantined,
            "duplicates": stats.duplicates,
            "last_event_at": stats.last_event_at.isoformat() if stats.last_event_at else None,
        },
        "today": today(catalog, as_of=as_of).to_dict(),
        "funnel": loop,
        "goals": goal_result,
        "runs": run_result["runs"],
        "open_alerts": [a for a in run_result["alerts"] if a["open"]],
        "stale_after_seconds": stale_after,
    }


@dataclass(frozen=True)
class Written:
    out: Path
    files: list[str]  # relative to ``out``, in the order written (the manifest not counted)
    removed: list[str] = field(default_factory=list)  # files of an earlier snapshot, now gone


#: The list of files a snapshot wrote into ``OUT`` (sorted, no time in it): the next snapshot
#: into the same ``OUT`` deletes those it does not write again (a run that has since gone).
MANIFEST = ".opdash-snapshot.json"
#: The names a snapshot writes: only these are ever deleted, whatever a manifest says.
_OURS = re.compile(
    r"status_snapshot\.json|status_snapshot\.html|runs\.json"
    r"|runs/(?!\.\.?/)[^/\x00]+/(?:snapshot|tail|alerts)\.json"
)


def write_snapshot(
    catalog, out: Path, *, as_of: datetime | None = None, stale_after: int = STALE_AFTER_SECONDS
) -> Written:
    """Every snapshot file under ``out`` (never inside the artifact folder)."""
    out = outside_artifacts(catalog.root, out, "--out")
    moment = as_of or newest_moment(catalog)
    if moment is None:
        raise UsageError(f"{catalog.root} holds no timestamps to snapshot; give --as-of")
    whole = status(catalog, as_of=moment, stale_after=stale_after)
    files: dict[str, str] = {
        "status_snapshot.json": dumps(whole, indent=2) + "\n",
        "status_snapshot.html": render_html(whole),
        "runs.json": dumps({"as_of": whole["as_of"], "runs": whole["runs"]}, indent=2) + "\n",
    }
    for run in whole["runs"]:
        run_id = run["run_id"]
        # listed as of the same moment, so it had started: its snapshot exists
        snap = run_snapshot(catalog, run_id, as_of=moment, stale_after=stale_after)
        events = run_tail(catalog, run_id, as_of=moment, limit=TAIL)
        parts = {
            "snapshot.json": snap.to_dict(),
            "tail.json": {"run_id": run_id, "events": events},
            "alerts.json": {"run_id": run_id, "alerts": [plain(a) for a in snap.alerts[:ALERTS]]},
        }
        for name, data in parts.items():
            files[f"runs/{run_id}/{name}"] = dumps(data, indent=2) + "\n"
    earlier = _listed(out)
    # first the union, so a snapshot stopped half-way still lists every file it wrote
    _write_manifest(out, [*earlier, *files])
    for relative, text in files.items():
        _write_atomically(out / relative, text)
    removed = [relative for relative in earlier if relative not in files and _remove(out, relative)]
    _write_manifest(out, list(files))
    return Written(out, list(files), removed)


def _listed(out: Path) -> list[str]:
    """The files the manifest in ``out`` names that a snapshot writes (anything else in it —
    a path leading out, a file opdash never writes, a broken manifest — is ignored)."""
    try:
        listed = json.loads((out / MANIFEST).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return []
    if not isinstance(listed, list):
        return []
    return [e for e in dict.fromkeys(e for e in listed if isinstance(e, str)) if _OURS.fullmatch(e)]


def _write_manifest(out: Path, files: list[str]) -> None:
    _write_atomically(out / MANIFEST, dumps({"files": sorted(set(files))}, indent=2) + "\n")


def _remove(out: Path, relative: str) -> bool:
    """Delete ``out/relative`` if it is a plain file in the folder its name says (no symlink
    on the way is followed, out of ``out`` or elsewhere in it), then its run folder if that is
    left empty."""
    path = out / relative
    try:
        where = out.resolve(strict=True) / PurePosixPath(relative).parent
        if path.parent.resolve(strict=True) != where or not stat.S_ISREG(path.lstat().st_mode):
            return False
        path.unlink()
    except OSError:
        return False
    if path.parent != out and path.parent.parent == out / "runs":
        with contextlib.suppress(OSError):  # not empty: someone else's files are in it
            path.parent.rmdir()
    return True


def _write_atomically(path: Path, text: str) -> None:
    """Write whole or not at all: a reader never sees half a snapshot file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# -- the HTML page -------------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1f2937; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
.meta { color: #6b7280; } table { border-collapse: collapse; margin: 4px 0 8px; }
th, td { text-align: left; padding: 3px 10px 3px 0; border-bottom: 1px solid #e5e7eb; }
th { color: #6b7280; font-weight: 600; } td.n { text-align: right; }
.bar { background: #2563eb; height: 10px; display: inline-block; vertical-align: middle; }
.bad { color: #b91c1c; font-weight: 600; }
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def render_html(whole: dict[str, Any]) -> str:
    """One self-contained page of ``status(...)``: every value from the data escaped."""
    data = whole["data"]
    body = [
        f"<h1>opdash status · {_e(whole['folder'])}</h1>",
        f'<p class="meta">as of {_e(whole["as_of"])} · {data["events"]:,} events · '
        f"{data['runs']:,} runs · {data['quarantined']:,} quarantined · newest event "
        f"{_e(data['last_event_at'] or '–')}</p>",
        *_today_html(whole["today"]),
        *_funnel_html(whole["funnel"]),
        *_goals_html(whole["goals"]),
        *_runs_html(whole["runs"], whole["stale_after_seconds"]),
        *_alerts_html(whole["open_alerts"]),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f"<title>opdash status · {_e(whole['folder'])}</title><style>{_CSS}</style></head>"
        "<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _e(value: Any) -> str:
    return html.escape("–" if value is None else str(value))


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    lines = []
    for row in rows:
        cells = "".join(
            f'<td class="n">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        lines.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(lines)}</table>"


def _today_html(day: dict[str, Any]) -> list[str]:
    counts = [[_e(t), f"{n:,}"] for t, n in day["counts"].items()]
    tasks = day["pending_tasks"]
    alerts = day["open_alerts"]
    insight = day["latest_insight"]
    out = [
        f"<h2>Today ({_e(day['tz'])}, since {_e(day['day_start'])})</h2>",
        _table(["event type", "count"], counts, {1}),
        f"<p>Pending tasks: {tasks['count']:,} · open alerts: {alerts['total']:,} "
        f"(critical {alerts['critical']}, warning {alerts['warning']}, info {alerts['info']})</p>",
    ]
    if tasks["tasks"]:
        rows = [
            [_e(t["task_id"]), _e(format_seconds(t["age_seconds"])), _e(t["title"])]
            for t in tasks["tasks"]
        ]
        out.append(_table(["task", "waiting", "title"], rows))
    if insight:
        out.append(
            f"<p>Last coach insight ({_e(insight['occurred_at'])}): {_e(insight['text'])}</p>"
        )
    return out


def _funnel_html(loop: dict[str, Any] | None) -> list[str]:
    if loop is None:
        return ["<h2>Loop funnel</h2><p>Fewer than two event types: no funnel.</p>"]
    rows = []
    for step in loop["steps"]:
        share = step.get("conversion_from_start") or 0.0
        bar = f'<span class="bar" style="width:{max(1, round(share * 200))}px"></span>'
        rows.append(
            [str(step["step"]), _e(step["event_type"]), f"{step['count']:,}", f"{bar} {share:.1%}"]
        )
    return [
        "<h2>Loop funnel</h2>",
        _table(["step", "event type", "count", "from start"], rows, {2}),
    ]


def _goals_html(goal_result: dict[str, Any]) -> list[str]:
    if not goal_result["goals"]:
        return ["<h2>Goals</h2><p>No goals.yaml.</p>"]
    rows = []
    for goal in goal_result["goals"]:
        progress = goal["progress"]
        rows.append(
            [
                _e(goal["title"] or goal["id"]),
                _e(goal["status"]),
                _e(goal["actual"]),
                _e(goal["target"]),
                _e("–" if progress is None else f"{progress:.0%}"),
                _e(f"{goal['expected_progress']:.0%}"),
            ]
        )
    headers = ["goal", "status", "actual", "target", "progress", "expected by now"]
    return ["<h2>Goals</h2>", _table(headers, rows)]


def _runs_html(run_rows: list[dict[str, Any]], stale_after: int) -> list[str]:
    if not run_rows:
        return ["<h2>Runs</h2><p>No runs.</p>"]
    rows = []
    for run in run_rows:
        status_text = run["error"] or run["status"] or "–"
        status_cell = _e(status_text)
        if run["stale"] or run["error"]:
            status_cell = (
                f'<span class="bad">{_e(status_text)}{" · stale" if run["stale"] else ""}</span>'
            )
        rows.append(
            [
                _e(run["run_id"]),
                _e(run["name"]),
                status_cell,
                _e(run["started_at"]),
                _e(format_seconds(run["duration_seconds"])),
                _e(run["last_activity_at"]),
                f"{run['events']:,}",
                f"{run['open_alerts']:,}",
            ]
        )
    headers = [
        "run",
        "name",
        "status",
        "started",
        "duration",
        "last activity",
        "events",
        "open alerts",
    ]
    note = (
        f'<p class="meta">stale: running, no sign of life for {_e(format_seconds(stale_after))}</p>'
    )
    return ["<h2>Runs</h2>", _table(headers, rows, {6, 7}), note]


def _alerts_html(alerts: list[dict[str, Any]]) -> list[str]:
    if not alerts:
        return ["<h2>Open alerts</h2><p>None.</p>"]
    rows = [
        [_e(a["severity"]), _e(a["title"]), _e(a["message"]), _e(a["run_id"]), _e(a["raised_at"])]
        for a in alerts
    ]
    return ["<h2>Open alerts</h2>", _table(["severity", "title", "message", "run", "raised"], rows)]


__all__ = ["MANIFEST", "Written", "newest_moment", "render_html", "status", "write_snapshot"]
