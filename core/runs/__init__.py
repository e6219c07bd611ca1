"""The run store: every experiment the tools make, recorded in MLflow.

Default store: SQLite at `runs_dir()/mlflow.db` with artifacts under `runs_dir()/artifacts`
(`core.paths`); a `MLFLOW_TRACKING_URI` set by the user wins, so a team can point every copy
of the app at one MLflow server. One MLflow experiment per tool (`TOOLS`). Each call uses an
`mlflow.MlflowClient` bound to the URI (never MLflow's global "active run"), so sessions and
worker threads can record at once. `import mlflow` happens inside functions only: Home and
the calculator never pay for it.

    run = RunRecord(name="digits 3 blocks", params=cfg, metrics={"test_accuracy": 0.99},
                    history=[{"step": 1, "loss": 0.3}], figures={"curves": fig})
    run_id = runs.record("cnn", run)          # or runs.try_record: a run id or the reason
    live = runs.start("gpt2", name="own text", params=cfg)   # long jobs: follow from the store
    live.log(10, loss=2.1); live.finish("FINISHED", metrics={"val_loss": 1.9})

Every public function raises `StoreError` (a message a user can act on) when the store
fails, or `ValueError` for bad arguments.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import functools
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import limits, paths, tools, units
from core.runs.types import Recorded, RunRecord

TOOLS = tuple(tools.RUN_KINDS)  # one MLflow experiment each
TOOL_LABELS = {kind.id: kind.label for kind in tools.RUN_KINDS.values()}
EXPERIMENT_PREFIX = tools.EXPERIMENT_PREFIX  # experiment name = prefix + tool, e.g. "dashboard/cnn"
STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")  # MLflow's run states
JOB_STATUS = {"done": "FINISHED", "stopped": "KILLED", "failed": "FAILED", "running": "RUNNING"}
TABLES_DIR = "tables"  # artifact folder of `tables` (one JSON list of rows each)
FIGURES_DIR = "figures"  # artifact folder of `figures` (plotly JSON + HTML each)
FIGURE_HTML_PLOTLYJS = "cdn"  # the HTML copies load plotly.js from its CDN (the JSON is offline)
PARAMS_FILE = "params.json"  # the params as given (nested), beside MLflow's flat params
SERVER_CHECK_TIMEOUT_S = 3.0  # how long to wait for an MLflow server's /health answer
HTTP_DEFAULTS = {  # MLflow's own HTTP retries, bounded unless the user set them
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # no "View run at" line per run
}
BATCH_PARAMS = 100  # MLflow's limit of params (and tags) per log_batch
BATCH_METRICS = 1000  # MLflow's limit of metric points per log_batch
PARAM_VALUE_CHARS = 6000  # MLflow's limit on one param value; longer ones are cut
_KEY_BAD_CHARS = re.compile(r"[^A-Za-z0-9_\-. :/]")  # what MLflow refuses in a key


Headline = tools.Headline
HEADLINES = {kind.id: kind.headline for kind in tools.RUN_KINDS.values()}


class StoreError(Exception):
    """The run store cannot be read or written; the message says what to do."""


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """One row of the runs list."""

    id: str
    tool: str  # one of TOOLS
    name: str
    status: str  # one of STATUSES
    start: dt.datetime  # UTC
    end: dt.datetime | None  # UTC; None while running
    headline_label: str  # e.g. "Test accuracy"
    headline: float | None  # the headline metric's latest value, None if not recorded
    headline_unit: str  # see Headline.unit
    host: str
    device: str
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end, None while running."""
        return None if self.end is None else (self.end - self.start).total_seconds()

    @property
    def headline_text(self) -> str:
        """The headline with its unit, '-' when not recorded."""
        return format_value(self.headline, self.headline_unit)


@dataclass(frozen=True, kw_only=True)
class Artifact:
    """One file of a run's artifacts."""

    path: str  # relative to the run's artifact root, "/"-separated
    size: int | None  # bytes; None where the store does not say


@dataclass(frozen=True, kw_only=True)
class RunDetail:
    """Everything recorded for one run."""

    summary: RunSummary
    params: dict[str, str]  # flat, dotted keys
    metrics: dict[str, float]  # latest value of each metric
    history: dict[str, list[tuple[int, float]]]  # metric -> (step, value), metrics with steps
    tables: dict[str, list[dict]]  # name -> rows
    figures: dict[str, str]  # name -> plotly JSON (plotly.io.from_json redraws it)
    artifacts: list[Artifact]  # every file, tables and figures included

    def figure(self, name: str):
        """The stored figure `name` as a plotly Figure."""
        import plotly.io as pio

        return pio.from_json(self.figures[name])


def format_value(value: float | None, unit: str) -> str:
    """A metric for people: '99.1 %', '$1.23k', '16.1 tokens/s', '0.0412'; '-' when missing."""
    if value is None:
        return "-"
    if unit == "%":
        return units.percent(value)
    if unit == "USD":
        return units.usd(value)
    return units.rate(value, unit) if unit else f"{value:.4g}"


# ---- where the store is -------------------------------------------------------------


def tracking_uri() -> str:
    """The store's URI: $MLFLOW_TRACKING_URI, else SQLite under runs_dir()."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{paths.runs_dir() / 'mlflow.db'}"


def is_default_store(uri: str) -> bool:
    """True for the embedded SQLite store under runs_dir()."""
    return not os.environ.get("MLFLOW_TRACKING_URI") and uri == tracking_uri()


def _is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def _local_folder(uri: str) -> Path | None:
    """The folder a file or SQLite URI writes into (None for servers)."""
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).parent
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path)
    return None


def _check_server(uri: str) -> None:
    """Raise StoreError within SERVER_CHECK_TIMEOUT_S when the MLflow server does not answer."""
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=SERVER_CHECK_TIMEOUT_S):  # noqa: S310
            return
    except urllib.error.HTTPError as err:
        reason = f"HTTP {err.code} on /health: is it an MLflow server?"
    except (OSError, ValueError) as err:
        reason = str(getattr(err, "reason", err))
    raise StoreError(
        f"The MLflow server at {uri} does not answer ({reason}). Start it (`mlflow server`), "
        "check MLFLOW_TRACKING_URI, or unset MLFLOW_TRACKING_URI to record into the local store."
    )


def _prepare(uri: str) -> None:
    """Make the store reachable: create the local folder or check the server."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars on stderr
    if _is_http(uri):
        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
        _check_server(uri)
        return
    folder = _local_folder(uri)
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(_os_message(err, folder)) from err


_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()
_experiments: dict[tuple[str, str], str] = {}  # (uri, tool) -> experiment id


def _client() -> tuple[Any, str]:
    """The MlflowClient for the current URI, built (and the schema migrated) once per process."""
    uri = tracking_uri()
    with _clients_lock:
        if uri not in _clients:
            _prepare(uri)
            with _translated(uri, "open the run store"), _first_open_lock(uri):
                from mlflow import MlflowClient

                client = MlflowClient(tracking_uri=uri)
                client.search_experiments(max_results=1)  # opens the store: migrations happen here
            _clients[uri] = client
        return _clients[uri], uri


@contextlib.contextmanager
def _first_open_lock(uri: str) -> Iterator[None]:
    """Hold a file lock beside a SQLite store while opening it: two processes creating the
    same new store at once would both run the schema migrations and one would fail."""
    folder = _local_folder(uri)
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        fcntl = None
    if fcntl is None or folder is None or not uri.startswith("sqlite:"):
        yield
        return
    with open(folder / ".mlflow-open.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        yield


def warm() -> None:
    """Open the store and create every tool's experiment now (call it in a background thread)."""
    client, uri = _client()
    for tool in TOOLS:
        _experiment_id(client, uri, tool)


def _artifact_location(uri: str, tool: str) -> str | None:
    """Artifacts of the embedded store go under runs_dir()/artifacts/<tool>."""
    if not is_default_store(uri):
        return None
    return (paths.runs_dir() / "artifacts" / tool).as_uri()


def _experiment_id(client: Any, uri: str, tool: str, create: bool = True) -> str | None:
    """The id of `tool`'s experiment, created on first use (safe against a racing creator)."""
    key = (uri, tool)
    if key in _experiments:
        return _experiments[key]
    name = EXPERIMENT_PREFIX + tool
    with _translated(uri, f"open the experiment {name}"):
        found = client.get_experiment_by_name(name)
        if found is None and not create:
            return None
        if found is None:
            # another session may create it first: then read theirs back below
            with contextlib.suppress(Exception):
                client.create_experiment(name, artifact_location=_artifact_location(uri, tool))
            found = client.get_experiment_by_name(name)
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
    _experiments[key] = found.experiment_id
    return found.experiment_id


# ---- errors -------------------------------------------------------------------------


def _os_message(err: OSError, where: Any) -> str:
    """What to do about an OSError while writing the store at `where`."""
    if err.errno == errno.ENOSPC:
        return f"The disk holding the run store ({where}) is full. Free some space and try again."
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST):
        return (
            f"The run store at {where} cannot be written ({err.strerror}). Make that folder "
            "writable, or set DASHBOARD_HOME (or MLFLOW_TRACKING_URI) to a place that is."
        )
    return f"The run store at {where} failed: {err}."


def _chain(err: BaseException) -> Iterator[BaseException]:
    """`err` and the exceptions it was raised from."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _message(err: Exception, uri: str, action: str) -> str:
    """A message a user can act on, for a failure of `action` on the store at `uri`."""
    for cause in _chain(err):
        if isinstance(cause, OSError) and cause.errno is not None:
            return _os_message(cause, _local_folder(uri) or uri)
    text = " ".join(str(c) for c in _chain(err))
    lowered = text.lower()
    if "disk is full" in lowered or "no space left" in lowered:
        return f"The disk holding the run store ({uri}) is full. Free some space and try again."
    if "readonly" in lowered or "read-only" in lowered or "unable to open database" in lowered:
        return (
            f"The run store {uri} cannot be written. Make its folder writable, or set "
            "DASHBOARD_HOME (or MLFLOW_TRACKING_URI) to a place that is."
        )
    if "registered tracking store" in lowered or "unsupported uri" in lowered:
        return (
            f"MLFLOW_TRACKING_URI={uri} is not a tracking store MLflow knows. Use "
            "sqlite:///ABSOLUTE/PATH.db, http(s)://HOST:PORT of an MLflow server, or unset it."
        )
    if _is_http(uri) and ("connection" in lowered or "max retries" in lowered):
        return (
            f"The MLflow server at {uri} stopped answering while trying to {action}. "
            "Check the server, or unset MLFLOW_TRACKING_URI to record into the local store."
        )
    if "not found" in lowered or "does not exist" in lowered:
        return f"Could not {action}: it is not in the run store (deleted?)."
    first = text.splitlines()[0] if text else type(err).__name__
    return f"Could not {action} ({uri}): {first[:300]}"


@contextlib.contextmanager
def _translated(uri: str, action: str) -> Iterator[None]:
    """Turn any failure inside into a StoreError with a message a user can act on."""
    try:
        yield
    except StoreError:
        raise
    except Exception as err:
        raise StoreError(_message(err, uri, action)) from err


# ---- what a run carries -------------------------------------------------------------


def _check_tool(tool: str) -> str:
    if tool not in TOOLS:
        raise ValueError(f"Unknown tool {tool!r}: use one of {', '.join(TOOLS)}.")
    return tool


def _status(status: str) -> str:
    """MLflow's status for `status` (MLflow's own names or core.jobs' 'done'/'stopped'/...)."""
    mapped = JOB_STATUS.get(status.lower(), status.upper())
    if mapped not in STATUSES:
        raise ValueError(f"Unknown run status {status!r}: use one of {', '.join(STATUSES)}.")
    return mapped


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


def _check_artifact_path(name: str) -> str:
    """`name` as a relative '/' path inside a run, or ValueError."""
    clean = str(name).replace("\\", "/").strip("/")
    if not clean or clean.startswith("/") or ".." in clean.split("/") or ":" in clean:
        raise ValueError(f"Artifact name {name!r} must be a relative path such as 'model/w.bin'.")
    return clean


def _rows(table: Any) -> list[dict]:
    """A table as a list of row dicts (a DataFrame is converted)."""
    if hasattr(table, "to_dict"):
        return table.to_dict("records")
    return [dict(row) for row in table]


def _stage(folder: Path, tables: dict, figures: dict, files: dict) -> None:
    """Write tables, figures and in-memory files into `folder` as the run's artifact layout."""
    for name, table in tables.items():
        target = folder / TABLES_DIR / f"{_check_artifact_path(name)}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(_rows(table), default=str))
    for name, fig in figures.items():
        base = folder / FIGURES_DIR / _check_artifact_path(name)
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
        clean = _check_artifact_path(name)
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

    def log(self, step: int, **metrics: float) -> None:
        """Record the numeric `metrics` at `step` (non-numbers are skipped)."""
        points = _metrics(metrics, step, int(time.time() * 1000))
        with _translated(self._uri, "record a step"):
            self._log_points(points)

    def log_history(self, history: list[dict], step_key: str = "step") -> None:
        """Record many rows at once; each row's `step_key` is its step."""
        points = _history_metrics(history, step_key)
        with _translated(self._uri, "record the history"):
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
        final = _status(status)
        files, folders = _split_artifacts(artifacts or {})
        with _translated(self._uri, "save the run's results"):
            self._log_points(_metrics(metrics or {}, 0, int(time.time() * 1000)))
            if tags:
                self._client.log_batch(self.id, tags=_tag_entities(tags))
            self._upload(tables or {}, figures or {}, files, folders)
            self._client.set_terminated(self.id, status=final)
        self.finished = True
        return self.id

    def tag(self, **tags: Any) -> None:
        """Add or replace tags of the run (e.g. how often a job restarted)."""
        with _translated(self._uri, "tag the run"):
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
    return {"tool": tool, "host": socket.gethostname(), "app_version": app_version(), **given}


def start(tool: str, *, name: str, params: dict | None = None, tags: dict | None = None) -> LiveRun:
    """Open a RUNNING run of `tool` with its params and tags; log steps on it, then finish()."""
    _check_tool(tool)
    flat = flatten(params or {})
    client, uri = _client()
    if is_default_store(uri):
        try:
            limits.check_room("runs", paths.runs_dir())
        except limits.FolderFull as err:
            raise StoreError(str(err)) from err
    exp = _experiment_id(client, uri, tool)
    with _translated(uri, f"start the run {name!r}"):
        run = client.create_run(exp, run_name=str(name), tags=_run_tags(tool, tags))
        run_id = run.info.run_id
        items = [(k, v) for k, v in flat.items()]
        from mlflow.entities import Param

        for i in range(0, len(items), BATCH_PARAMS):
            batch = [Param(k, v) for k, v in items[i : i + BATCH_PARAMS]]
            client.log_batch(run_id, params=batch)
        if params:
            client.log_text(run_id, json.dumps(params, default=str, indent=1), PARAMS_FILE)
    return LiveRun(client, uri, run_id, tool)


def reopen(tool: str, run_id: str, tags: dict | None = None) -> LiveRun:
    """Take up the run `run_id` again (a job restarted from its checkpoint): RUNNING again,
    with `tags` added; log on it and finish() it as a run from start()."""
    _check_tool(tool)
    client, uri = _client()
    with _translated(uri, f"reopen run {run_id}"):
        client.update_run(run_id, status="RUNNING")
        if tags:
            client.log_batch(run_id, tags=_tag_entities(tags))
    return LiveRun(client, uri, run_id, tool)


def record(tool: str, run: RunRecord) -> str:
    """Record a whole run in one call; returns its run id (StoreError when the store fails).

    history rows become step metrics (`step_key` gives the step); tables are stored as JSON,
    figures (plotly) as JSON and HTML; artifacts map a name in the run to bytes, text (str)
    or a Path (a file, or a folder uploaded whole).
    """
    _check_tool(tool)
    final = _status(run.status)
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
    except StoreError:
        with contextlib.suppress(Exception):
            live._client.set_terminated(live.id, status="FAILED")
        raise


def try_record(tool: str, run: RunRecord) -> Recorded:
    """Record `run`; the run id, or the reason it could not be recorded (nothing else is lost:
    the caller keeps its model and results)."""
    try:
        return Recorded(run_id=record(tool, run))
    except StoreError as err:
        return Recorded(reason=str(err))
    except Exception as err:  # a failure not foreseen: still a reason, never lost work
        return Recorded(reason=f"{type(err).__name__}: {err}")


# ---- reading ------------------------------------------------------------------------


def _utc(ms: int | None) -> dt.datetime | None:
    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def _summary(run: Any, tool: str) -> RunSummary:
    """A RunSummary from an MLflow Run."""
    info, data = run.info, run.data
    head = HEADLINES[tool]
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
    tools = TOOLS if tool is None else (_check_tool(tool),)
    where = []
    if status is not None:
        where.append(f"attributes.status = '{_status(status)}'")
    if since is not None:
        where.append(f"attributes.start_time >= {_since_ms(since)}")
    client, uri = _client()
    ids = {_experiment_id(client, uri, t, create=False): t for t in tools}
    ids.pop(None, None)
    if not ids:
        return []
    with _translated(uri, "list the runs"):
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
    if tool in TOOLS:
        return tool
    exp = client.get_experiment(run.info.experiment_id)
    name = exp.name.removeprefix(EXPERIMENT_PREFIX)
    if name not in TOOLS:
        raise StoreError(f"Run {run.info.run_id} does not belong to any of the dashboard's tools.")
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
    """The MLflow run, or StoreError when it is not in the store."""
    with _translated(uri, f"find run {run_id}"):
        run = client.get_run(run_id)
    if run.info.lifecycle_stage == "deleted":
        raise StoreError(f"Run {run_id} was deleted from the run store.")
    return run


def get_run(run_id: str) -> RunDetail:
    """Everything recorded for `run_id`: params, metrics, histories, tables, figures, files."""
    client, uri = _client()
    run = _get(client, uri, run_id)
    with _translated(uri, f"read run {run_id}"):
        files = _walk(client, run_id)
        history = {}
        for key in run.data.metrics:
            points = client.get_metric_history(run_id, key)
            if len({p.step for p in points}) > 1:
                history[key] = sorted((p.step, p.value) for p in points)
        tables, figures = {}, {}
        for f in files:
            stem, suffix = os.path.splitext(f.path)
            if f.path.startswith(f"{TABLES_DIR}/") and suffix == ".json":
                tables[stem.removeprefix(f"{TABLES_DIR}/")] = json.loads(
                    _read(client, run_id, f.path)
                )
            elif f.path.startswith(f"{FIGURES_DIR}/") and suffix == ".json":
                figures[stem.removeprefix(f"{FIGURES_DIR}/")] = _read(
                    client, run_id, f.path
                ).decode()
    return RunDetail(
        summary=_summary(run, _tool_of(client, run)),
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        history=history,
        tables=tables,
        figures=figures,
        artifacts=files,
    )


def _gone(run_id: str, path: str) -> StoreError:
    return StoreError(
        f"The file {path!r} of run {run_id} is gone from the run store (deleted or moved). "
        "Record the run again to get it back."
    )


def load_artifact(run_id: str, path: str) -> bytes:
    """The bytes of the artifact file `path` of `run_id`."""
    clean = _check_artifact_path(path)
    client, uri = _client()
    _get(client, uri, run_id)
    with _translated(uri, f"read {clean!r} of run {run_id}"):
        if not _is_file(client, run_id, clean):
            raise _gone(run_id, clean)
        return _read(client, run_id, clean)


def download_folder(run_id: str, path: str) -> Path:
    """A local copy of the artifact folder (or file) `path` of `run_id`, kept under runs_dir()."""
    clean = _check_artifact_path(path)
    client, uri = _client()
    _get(client, uri, run_id)
    target = paths.runs_dir() / "downloads" / run_id / clean
    if target.exists():
        return target
    with _translated(uri, f"download {clean!r} of run {run_id}"):
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
    client, uri = _client()
    run = _get(client, uri, run_id)
    with _translated(uri, f"delete run {run_id}"):
        client.delete_run(run_id)
        local = _local_folder(run.info.artifact_uri)
        if is_default_store(uri) and local is not None and local.is_dir():
            shutil.rmtree(local.parent if local.name == "artifacts" else local)
    shutil.rmtree(paths.runs_dir() / "downloads" / run_id, ignore_errors=True)


def mlflow_ui_url(run_id: str) -> str | None:
    """The run's page in the MLflow UI when the store is an MLflow server, else None."""
    uri = tracking_uri()
    if not _is_http(uri):
        return None
    client, uri = _client()
    run = _get(client, uri, run_id)
    return f"{uri.rstrip('/')}/#/experiments/{run.info.experiment_id}/runs/{run_id}"


def reset() -> None:
    """Forget the cached clients and experiment ids (tests; after the URI changed)."""
    with _clients_lock:
        _clients.clear()
        _experiments.clear()
