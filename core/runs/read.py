"""Reading runs back: the list (`list_runs` -> `RunSummary` rows), one run whole (`get_run` ->
`RunDetail`), one metric's every point (`metric_history`), one file (`load_artifact`) or
folder (`download_folder`), `delete_run`, and the run's page in the MLflow UI.

Reads the format `core.runs.write` writes, so runs recorded before any change still list,
compare and load; a run's tool is its `tool` tag, else the experiment that holds it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from core import paths
from core.runs import store
from core.runs.types import Artifact, RunDetail, RunSummary


def _utc(ms: int | None) -> dt.datetime | None:
    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def _summary(run: Any, tool: str) -> RunSummary:
    """A RunSummary from an MLflow Run."""
    info, data = run.info, run.data
    head = store.HEADLINES[tool]
    value = next((data.metrics[m] for m in head.metrics if m in data.metrics), None)
    return RunSummary(
        id=info.run_id,
        tool=tool,
        name=info.run_name or data.tags.get("mlflow.runName", info.run_id[:8]),
        status=info.status,
        start=_utc(info.start_time),
        end=_utc(info.end_time) if info.status != "RUNNING" else None,
        headline_label=head.label,
        headline=value,
        headline_unit=head.unit,
        host=data.tags.get("host", ""),
        device=data.tags.get("device", ""),
        tags={k: v for k, v in data.tags.items() if not k.startswith("mlflow.")},
    )


def _since_ms(since: dt.datetime | dt.date | float) -> int:
    """`since` (a datetime, naive = UTC; a date; or epoch seconds) in epoch milliseconds."""
    if isinstance(since, dt.datetime):
        moment = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
    elif isinstance(since, dt.date):
        moment = dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC)
    elif isinstance(since, int | float):
        return int(since * 1000)
    else:
        raise ValueError(f"since must be a datetime, a date or epoch seconds, not {since!r}.")
    return int(moment.timestamp() * 1000)


def list_runs(
    tool: str | None = None,
    status: str | None = None,
    since: dt.datetime | dt.date | float | None = None,
    limit: int = 1000,
) -> list[RunSummary]:
    """Runs newest first, optionally of one tool, one status, started at or after `since`."""
    tools = store.TOOLS if tool is None else (store.check_tool(tool),)
    where = []
    if status is not None:
        where.append(f"attributes.status = '{store.run_status(status)}'")
    if since is not None:
        where.append(f"attributes.start_time >= {_since_ms(since)}")
    client, uri = store.connect()
    ids = {store.experiment_id(client, uri, t, create=False): t for t in tools}
    ids.pop(None, None)
    if not ids:
        return []
    with store.translated(uri, "list the runs"):
        found = client.search_runs(
            list(ids),
            filter_string=" and ".join(where),
            max_results=limit,
            order_by=["attributes.start_time DESC"],
        )
    return [_summary(run, ids[run.info.experiment_id]) for run in found]


def _tool_of(client: Any, run: Any) -> str:
    """The tool whose experiment holds `run`."""
    tool = run.data.tags.get("tool")
    if tool in store.TOOLS:
        return tool
    exp = client.get_experiment(run.info.experiment_id)
    name = exp.name.removeprefix(store.EXPERIMENT_PREFIX)
    if name not in store.TOOLS:
        raise store.StoreError(
            f"Run {run.info.run_id} does not belong to any of the dashboard's tools."
        )
    return name


def _walk(client: Any, run_id: str, path: str | None = None) -> list[Artifact]:
    """Every file under `path` in the run's artifacts."""
    files = []
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            files += _walk(client, run_id, info.path)
        else:
            files.append(Artifact(path=info.path, size=info.file_size))
    return files


def _read(client: Any, run_id: str, path: str) -> bytes:
    """The bytes of one artifact file."""
    with tempfile.TemporaryDirectory(prefix="artifact-") as tmp:
        local = client.download_artifacts(run_id, path, tmp)
        return Path(local).read_bytes()


def _get(client: Any, uri: str, run_id: str) -> Any:
    """The MLflow run, or store.StoreError when it is not in the store."""
    with store.translated(uri, f"find run {run_id}"):
        run = client.get_run(run_id)
    if run.info.lifecycle_stage == "deleted":
        raise store.StoreError(f"Run {run_id} was deleted from the run store.")
    return run


def _points(client: Any, run_id: str, metric: str) -> list[tuple[int, float]]:
    """Every recorded (step, value) of `metric`, by step, repeats kept."""
    return sorted((p.step, p.value) for p in client.get_metric_history(run_id, metric))


def _histories(client: Any, run: Any) -> dict[str, list[tuple[int, float]]]:
    """The metrics recorded at more than one step, each as its (step, value) points."""
    history = {}
    for metric in run.data.metrics:
        points = _points(client, run.info.run_id, metric)
        if len({step for step, _ in points}) > 1:
            history[metric] = points
    return history


def _stored(client: Any, run_id: str, files: list[Artifact], folder: str) -> dict[str, str]:
    """The JSON files under `folder` (tables/ or figures/): name (no folder, no .json) -> text."""
    found = {}
    for f in files:
        stem, suffix = os.path.splitext(f.path)
        if f.path.startswith(f"{folder}/") and suffix == ".json":
            found[stem.removeprefix(f"{folder}/")] = _read(client, run_id, f.path).decode()
    return found


def get_run(run_id: str) -> RunDetail:
    """Everything recorded for `run_id`: params, metrics, histories, tables, figures, files."""
    client, uri = store.connect()
    run = _get(client, uri, run_id)
    with store.translated(uri, f"read run {run_id}"):
        files = _walk(client, run_id)
        history = _histories(client, run)
        tables = _stored(client, run_id, files, store.TABLES_DIR)
        rows = {name: json.loads(text) for name, text in tables.items()}
        figures = _stored(client, run_id, files, store.FIGURES_DIR)
    return RunDetail(
        summary=_summary(run, _tool_of(client, run)),
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        history=history,
        tables=rows,
        figures=figures,
        artifacts=files,
    )


def metric_history(run_id: str, metric: str) -> list[tuple[int, float]]:
    """Every recorded (step, value) point of `metric` in `run_id`, by step, repeats kept
    (a job that logged a step twice shows it twice); [] when it has none."""
    client, uri = store.connect()
    _get(client, uri, run_id)
    with store.translated(uri, f"read {metric!r} of run {run_id}"):
        return _points(client, run_id, metric)


def _gone(run_id: str, path: str) -> store.StoreError:
    return store.StoreError(
        f"The file {path!r} of run {run_id} is gone from the run store (deleted or moved). "
        "Record the run again to get it back."
    )


def load_artifact(run_id: str, path: str) -> bytes:
    """The bytes of the artifact file `path` of `run_id`."""
    clean = store.check_artifact_path(path)
    client, uri = store.connect()
    _get(client, uri, run_id)
    with store.translated(uri, f"read {clean!r} of run {run_id}"):
        if not _is_file(client, run_id, clean):
            raise _gone(run_id, clean)
        return _read(client, run_id, clean)


def download_folder(run_id: str, path: str) -> Path:
    """A local copy of the artifact folder (or file) `path` of `run_id`, kept under runs_dir()."""
    clean = store.check_artifact_path(path)
    client, uri = store.connect()
    _get(client, uri, run_id)
    target = paths.runs_dir() / "downloads" / run_id / clean
    if target.exists():
        return target
    with store.translated(uri, f"download {clean!r} of run {run_id}"):
        if not client.list_artifacts(run_id, clean) and not _is_file(client, run_id, clean):
            raise _gone(run_id, clean)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".partial-") as tmp:
            local = Path(client.download_artifacts(run_id, clean, tmp))
            with contextlib.suppress(OSError):  # another session finished first: keep theirs
                local.rename(target)
    return target


def _is_file(client: Any, run_id: str, path: str) -> bool:
    parent = os.path.dirname(path) or None
    return any(f.path == path for f in client.list_artifacts(run_id, parent))


def delete_run(run_id: str) -> None:
    """Delete `run_id`; in the embedded store its artifact files go too."""
    client, uri = store.connect()
    run = _get(client, uri, run_id)
    with store.translated(uri, f"delete run {run_id}"):
        client.delete_run(run_id)
        local = store.local_folder(run.info.artifact_uri)
        if store.is_default_store(uri) and local is not None and local.is_dir():
            shutil.rmtree(local.parent if local.name == "artifacts" else local)
    shutil.rmtree(paths.runs_dir() / "downloads" / run_id, ignore_errors=True)


def mlflow_ui_url(run_id: str) -> str | None:
    """The run's page in the MLflow UI when the store is an MLflow server, else None."""
    uri = store.tracking_uri()
    if not store.is_http(uri):
        return None
    client, uri = store.connect()
    run = _get(client, uri, run_id)
    return f"{uri.rstrip('/')}/#/experiments/{run.info.experiment_id}/runs/{run_id}"
