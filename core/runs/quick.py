"""The runs list read straight from the embedded SQLite store with Python's sqlite3, while
MLflow is still being imported (seconds after a restart): the Runs page shows its table at
once. Read-only; for any other store, or a schema this does not recognise, it gives None
and the page waits for `list_runs`. The rows are the same `RunSummary` rows `list_runs`
gives (tests/test_runs_page.py compares them)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from core.runs import store
from core.runs.types import RunSummary

QUICK_TIMEOUT_S = 1.0  # a locked database: give up and let MLflow read it


def _utc(ms: int | None) -> dt.datetime | None:
    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def _rows(db: sqlite3.Connection, tools, status, since_ms, limit) -> list[tuple]:
    names = [store.EXPERIMENT_PREFIX + t for t in tools]
    sql = (
        "SELECT r.run_uuid, r.name, r.status, r.start_time, r.end_time, e.name"
        " FROM runs r JOIN experiments e ON r.experiment_id = e.experiment_id"
        " WHERE r.lifecycle_stage = 'active' AND e.lifecycle_stage = 'active'"
        f" AND e.name IN ({','.join('?' * len(names))})"
    )
    args: list = list(names)
    if status is not None:
        sql, args = sql + " AND r.status = ?", [*args, store.run_status(status)]
    if since_ms is not None:
        sql, args = sql + " AND r.start_time >= ?", [*args, since_ms]
    sql += " ORDER BY r.start_time DESC LIMIT ?"
    return db.execute(sql, [*args, limit]).fetchall()


def _by_run(db: sqlite3.Connection, table: str, ids: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = {i: {} for i in ids}
    marks = ",".join("?" * len(ids))
    for run, key, value in db.execute(
        f"SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({marks})", ids
    ):
        out[run][key] = value
    return out


def _summary(row: tuple, tags: dict, metrics: dict) -> RunSummary:
    run_id, name, status, start, end, experiment = row
    tool = tags.get("tool")
    tool = tool if tool in store.TOOLS else experiment.removeprefix(store.EXPERIMENT_PREFIX)
    head = store.HEADLINES[tool]
    return RunSummary(
        id=run_id,
        tool=tool,
        name=name or tags.get("mlflow.runName", run_id[:8]),
        status=status,
        start=_utc(start),
        end=_utc(end) if status != "RUNNING" else None,
        headline_label=head.label,
        headline=next((float(metrics[m]) for m in head.metrics if m in metrics), None),
        headline_unit=head.unit,
        host=tags.get("host", ""),
        device=tags.get("device", ""),
        tags={k: v for k, v in tags.items() if not k.startswith("mlflow.")},
    )


def quick_list(
    tool: str | None = None,
    status: str | None = None,
    since: dt.date | None = None,
    limit: int = 1000,
) -> list[RunSummary] | None:
    """The runs newest first as `list_runs` gives them, read without MLflow; None when the
    store is not the embedded SQLite one or cannot be read this way."""
    uri = store.tracking_uri()
    if not store.is_default_store(uri):
        return None
    path = Path(uri.removeprefix("sqlite:///"))
    if not path.exists():
        return None
    tools = store.TOOLS if tool is None else (store.check_tool(tool),)
    since_ms = None
    if since is not None:
        day = since if isinstance(since, dt.datetime) else dt.datetime.combine(since, dt.time())
        since_ms = int((day if day.tzinfo else day.replace(tzinfo=dt.UTC)).timestamp() * 1000)
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=QUICK_TIMEOUT_S)
        try:
            rows = _rows(db, tools, status, since_ms, limit)
            ids = [r[0] for r in rows]
            tags = _by_run(db, "tags", ids) if ids else {}
            metrics = _by_run(db, "latest_metrics", ids) if ids else {}
        finally:
            db.close()
        return [_summary(r, tags[r[0]], metrics[r[0]]) for r in rows]
    except (sqlite3.Error, KeyError, ValueError, TypeError):
        return None
