"""Writing runs: a whole run in one call (`record`, `try_record`) or step by step while a long
job works (`start` or `reopen` -> `LiveRun`: `log`, `log_history`, `tag`, `finish`).

What is written is the store's format, read back by `core.runs.read` and by runs recorded
before: flat params (dotted keys) plus `params.json` as given, step metrics, the tags `tool`,
`host` and `app_version`, tables as JSON under `tables/`, figures as plotly JSON and HTML
under `figures/`, and any other files under their own names.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from core import limits, paths
from core.runs import owner, store
from core.runs.types import Recorded, RunRecord

HEARTBEAT_S = 30.0  # how often a live run's owner says it is still there
FIGURE_HTML_PLOTLYJS = "cdn"  # the HTML copies load plotly.js from its CDN (the JSON is offline)
BATCH_PARAMS = 100  # MLflow's limit of params (and tags) per log_batch
BATCH_METRICS = 1000  # MLflow's limit of metric points per log_batch
PARAM_VALUE_CHARS = 6000  # MLflow's limit on one param value; longer ones are cut
_KEY_BAD_CHARS = re.compile(r"[^A-Za-z0-9_\-. :/]")  # what MLflow refuses in a key


def _key(name: Any) -> str:
    """A metric or param name MLflow accepts (refused characters become '_')."""
    return _KEY_BAD_CHARS.sub("_", str(name)).strip() or "_"


def flatten(params: dict, prefix: str = "") -> dict[str, str]:
    """Nested dicts -> one level with dotted keys; values as strings (lists as JSON)."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{_key(key)}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list | tuple | dict):
            flat[name] = json.dumps(value, default=str)
        else:
            flat[name] = str(value)
    return {k: v[:PARAM_VALUE_CHARS] for k, v in flat.items()}


def _number(value: Any) -> float | None:
    """`value` as a float, None for what is not a number (text, None)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if hasattr(value, "item") and getattr(value, "size", 1) == 1:  # numpy or torch scalar
        return _number(value.item())
    return None


def _metrics(metrics: dict[str, Any], step: int, now_ms: int) -> list:
    """MLflow Metric entities of the numeric values in `metrics`."""
    from mlflow.entities import Metric

    points = []
    for name, value in metrics.items():
        number = _number(value)
        if number is not None:
            points.append(Metric(_key(name), number, now_ms, int(step)))
    return points


def _history_metrics(history: list[dict], step_key: str) -> list:
    """Step metrics from history rows; a row without `step_key` takes its index as step."""
    now_ms = int(time.time() * 1000)
    points = []
    for index, row in enumerate(history):
        if not isinstance(row, dict):
            raise ValueError(f"history row {index} is a {type(row).__name__}, not a dict.")
        step = _number(row.get(step_key, index))
        rest = {k: v for k, v in row.items() if k != step_key}
        points += _metrics(rest, int(step if step is not None else index), now_ms)
    return points


def _rows(table: Any) -> list[dict]:
    """A table as a list of row dicts (a DataFrame is converted)."""
    if hasattr(table, "to_dict"):
        return table.to_dict("records")
    return [dict(row) for row in table]


def _stage(folder: Path, tables: dict, figures: dict, files: dict) -> None:
    """Write tables, figures and in-memory files into `folder` as the run's artifact layout."""
    for name, table in tables.items():
        target = folder / store.TABLES_DIR / f"{store.check_artifact_path(name)}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(_rows(table), default=str))
    for name, fig in figures.items():
        base = folder / store.FIGURES_DIR / store.check_artifact_path(name)
        base.parent.mkdir(parents=True, exist_ok=True)
        base.with_suffix(".json").write_text(fig.to_json())
        base.with_suffix(".html").write_text(fig.to_html(include_plotlyjs=FIGURE_HTML_PLOTLYJS))
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        elif isinstance(content, str):
            target.write_text(content)
        else:
            shutil.copy2(content, target)


def _split_artifacts(artifacts: dict) -> tuple[dict, dict[str, Path]]:
    """Files to stage (bytes, text, single files) and folders to upload as they are."""
    files, folders = {}, {}
    for name, content in artifacts.items():
        clean = store.check_artifact_path(name)
        if isinstance(content, Path) and content.is_dir():
            folders[clean] = content
        elif isinstance(content, Path) and not content.is_file():
            raise ValueError(f"Artifact {name!r}: {content} does not exist.")
        elif isinstance(content, bytes | str | Path):
            files[clean] = content
        else:
            raise ValueError(f"Artifact {name!r} must be bytes, text or a Path.")
    return files, folders


@functools.cache
def app_version() -> str:
    """The app's version: the git commit it runs from, or 'unknown'."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


# ---- recording ----------------------------------------------------------------------


class LiveRun:
    """A run being recorded step by step (long jobs); finish() ends it."""

    def __init__(self, client: Any, uri: str, run_id: str, tool: str) -> None:
        self._client, self._uri, self.id, self.tool = client, uri, run_id, tool
        self.finished = False
        self._beating: threading.Event | None = None

    def beat(self) -> None:
        """Refresh the run's heartbeat: its owner is still there."""
        self.tag(**{owner.HEARTBEAT: f"{time.time():.3f}"})

    def keep_alive(self, every_s: float = HEARTBEAT_S) -> None:
        """Beat every `every_s` seconds from a daemon thread until finish() (or the process
        dies: then the heartbeat stops and `core.runs.live.sweep` closes the run)."""
        if self._beating is not None:
            return
        self._beating = threading.Event()

        def beating(stop: threading.Event) -> None:
            while not stop.wait(every_s):
                with contextlib.suppress(Exception):  # a store down for a while: try again
                    self.beat()

        threading.Thread(
            target=beating, args=(self._beating,), name="run heartbeat", daemon=True
        ).start()

    def log(self, step: int, **metrics: float) -> None:
        """Record the numeric `metrics` at `step` (non-numbers are skipped)."""
        points = _metrics(metrics, step, int(time.time() * 1000))
        with store.translated(self._uri, "record a step"):
            self._log_points(points)

    def log_history(self, history: list[dict], step_key: str = "step") -> None:
        """Record many rows at once; each row's `step_key` is its step."""
        points = _history_metrics(history, step_key)
        with store.translated(self._uri, "record the history"):
            self._log_points(points)

    def _log_points(self, points: list) -> None:
        for i in range(0, len(points), BATCH_METRICS):
            self._client.log_batch(self.id, metrics=points[i : i + BATCH_METRICS])

    def finish(
        self,
        status: str = "FINISHED",
        *,
        metrics: dict[str, float] | None = None,
        tables: dict[str, list[dict]] | None = None,
        figures: dict | None = None,
        artifacts: dict[str, bytes | str | Path] | None = None,
        tags: dict | None = None,
    ) -> str:
        """Record the final metrics, tables, figures and artifacts, then end the run; its id."""
        final = store.run_status(status)
        files, folders = _split_artifacts(artifacts or {})
        with store.translated(self._uri, "save the run's results"):
            self._log_points(_metrics(metrics or {}, 0, int(time.time() * 1000)))
            if tags:
                self._client.log_batch(self.id, tags=_tag_entities(tags))
            self._upload(tables or {}, figures or {}, files, folders)
            self._client.set_terminated(self.id, status=final)
        self.finished = True
        if self._beating is not None:
            self._beating.set()
        return self.id

    def complete(self, run: RunRecord, logged: set[int] | frozenset = frozenset()) -> str:
        """End this run with the whole `run` (started from its first params): the history
        rows whose step is not in `logged` (those were logged live), the params not yet
        recorded, its name, tags, metrics, tables, figures and artifacts; its id."""
        final = store.run_status(run.status)
        _split_artifacts(run.artifacts)
        rows = [r for r in run.history if r.get(run.step_key) not in logged]
        if rows:
            self.log_history(rows, run.step_key)
        with store.translated(self._uri, "save the run's settings"):
            recorded = self._client.get_run(self.id).data.params
            new = {k: v for k, v in flatten(run.params).items() if k not in recorded}
            from mlflow.entities import Param

            items = list(new.items())
            for i in range(0, len(items), BATCH_PARAMS):
                batch = [Param(k, v) for k, v in items[i : i + BATCH_PARAMS]]
                self._client.log_batch(self.id, params=batch)
            if run.params:
                text = json.dumps(run.params, default=str, indent=1)
                self._client.log_text(self.id, text, store.PARAMS_FILE)
            self._client.update_run(self.id, name=str(run.name))
        return self.finish(
            final,
            metrics=run.metrics,
            tables=run.tables,
            figures=run.figures,
            artifacts=run.artifacts,
            tags=run.tags,
        )

    def tag(self, **tags: Any) -> None:
        """Add or replace tags of the run (e.g. how often a job restarted)."""
        with store.translated(self._uri, "tag the run"):
            self._client.log_batch(self.id, tags=_tag_entities(tags))

    def _upload(self, tables: dict, figures: dict, files: dict, folders: dict) -> None:
        if tables or figures or files:
            with tempfile.TemporaryDirectory(prefix="run-") as tmp:
                _stage(Path(tmp), tables, figures, files)
                self._client.log_artifacts(self.id, tmp)
        for name, folder in folders.items():
            self._client.log_artifacts(self.id, str(folder), artifact_path=name)

    def __enter__(self) -> LiveRun:
        return self

    def __exit__(self, kind, err, tb) -> None:
        if not self.finished:
            self.finish("FAILED" if err is not None else "FINISHED")


def _tag_entities(tags: dict) -> list:
    from mlflow.entities import RunTag

    return [RunTag(_key(k), str(v)[:PARAM_VALUE_CHARS]) for k, v in tags.items()]


def _run_tags(tool: str, tags: dict | None) -> dict[str, str]:
    """What every run carries: tool, host, app version, and the caller's tags (device...)."""
    given = {str(k): str(v) for k, v in (tags or {}).items()}
    mine = {"tool": tool, "host": socket.gethostname(), "app_version": app_version()}
    return mine | owner.owner_tags() | given


def start(tool: str, *, name: str, params: dict | None = None, tags: dict | None = None) -> LiveRun:
    """Open a RUNNING run of `tool` with its params and tags; log steps on it, then finish()."""
    store.check_tool(tool)
    flat = flatten(params or {})
    client, uri = store.connect()
    if store.is_default_store(uri):
        try:
            limits.check_room("runs", paths.runs_dir())
        except limits.FolderFull as err:
            raise store.StoreError(str(err)) from err
    exp = store.experiment_id(client, uri, tool)
    with store.translated(uri, f"start the run {name!r}"):
        run = client.create_run(exp, run_name=str(name), tags=_run_tags(tool, tags))
        run_id = run.info.run_id
        items = [(k, v) for k, v in flat.items()]
        from mlflow.entities import Param

        for i in range(0, len(items), BATCH_PARAMS):
            batch = [Param(k, v) for k, v in items[i : i + BATCH_PARAMS]]
            client.log_batch(run_id, params=batch)
        if params:
            client.log_text(run_id, json.dumps(params, default=str, indent=1), store.PARAMS_FILE)
    return LiveRun(client, uri, run_id, tool)


def reopen(tool: str, run_id: str, tags: dict | None = None) -> LiveRun:
    """Take up the run `run_id` again (a job restarted from its checkpoint): RUNNING again,
    with `tags` added; log on it and finish() it as a run from start()."""
    store.check_tool(tool)
    client, uri = store.connect()
    with store.translated(uri, f"reopen run {run_id}"):
        client.update_run(run_id, status="RUNNING")
        client.log_batch(run_id, tags=_tag_entities(owner.owner_tags() | (tags or {})))
    return LiveRun(client, uri, run_id, tool)


def close(run_id: str, status: str, *, end_s: float, tags: dict) -> None:
    """End the run `run_id` another process left RUNNING: `status` at `end_s` (epoch
    seconds, its last sign of life), with `tags` (a note why); what it logged stays."""
    final = store.run_status(status)
    client, uri = store.connect()
    with store.translated(uri, f"close run {run_id}"):
        client.log_batch(run_id, tags=_tag_entities(tags))
        client.set_terminated(run_id, status=final, end_time=int(end_s * 1000))


def record(tool: str, run: RunRecord) -> str:
    """Record a whole run in one call; returns its run id (store.StoreError when the store fails).

    history rows become step metrics (`step_key` gives the step); tables are stored as JSON,
    figures (plotly) as JSON and HTML; artifacts map a name in the run to bytes, text (str)
    or a Path (a file, or a folder uploaded whole).
    """
    store.check_tool(tool)
    final = store.run_status(run.status)
    _split_artifacts(run.artifacts)  # bad names or missing paths fail before anything is written
    live = start(tool, name=run.name, params=run.params, tags=run.tags)
    try:
        if run.history:
            live.log_history(run.history, run.step_key)
        return live.finish(
            final,
            metrics=run.metrics,
            tables=run.tables,
            figures=run.figures,
            artifacts=run.artifacts,
        )
    except store.StoreError:
        with contextlib.suppress(Exception):
            live._client.set_terminated(live.id, status="FAILED")
        raise


def try_record(tool: str, run: RunRecord) -> Recorded:
    """Record `run`; the run id, or the reason it could not be recorded (nothing else is lost:
    the caller keeps its model and results)."""
    try:
        return Recorded(run_id=record(tool, run))
    except store.StoreError as err:
        return Recorded(reason=str(err))
    except Exception as err:  # a failure not foreseen: still a reason, never lost work
        return Recorded(reason=f"{type(err).__name__}: {err}")
