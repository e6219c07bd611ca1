"""Where the run store is and how to reach it: the tracking URI, one MLflow client per URI,
one experiment per tool, and failures turned into `StoreError` messages a user can act on.

Default store: SQLite at `runs_dir()/mlflow.db` with artifacts under `runs_dir()/artifacts`;
a `MLFLOW_TRACKING_URI` set by the user wins. The vocabulary of the store (tools, statuses,
the artifact folders) is here too, so `write` and `read` speak it alike. `import mlflow`
happens inside functions only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core import paths, tools

TOOLS = tuple(tools.RUN_KINDS)  # one MLflow experiment each
TOOL_LABELS = {kind.id: kind.label for kind in tools.RUN_KINDS.values()}
EXPERIMENT_PREFIX = tools.EXPERIMENT_PREFIX  # experiment name = prefix + tool, e.g. "dashboard/cnn"
Headline = tools.Headline
HEADLINES = {kind.id: kind.headline for kind in tools.RUN_KINDS.values()}
STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")  # MLflow's run states
JOB_STATUS = {"done": "FINISHED", "stopped": "KILLED", "failed": "FAILED", "running": "RUNNING"}
TABLES_DIR = "tables"  # artifact folder of `tables` (one JSON list of rows each)
FIGURES_DIR = "figures"  # artifact folder of `figures` (plotly JSON + HTML each)
PARAMS_FILE = "params.json"  # the params as given (nested), beside MLflow's flat params
SERVER_CHECK_TIMEOUT_S = 3.0  # how long to wait for an MLflow server's /health answer
HTTP_DEFAULTS = {  # MLflow's own HTTP retries, bounded unless the user set them
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # no "View run at" line per run
}


class StoreError(Exception):
    """The run store cannot be read or written; the message says what to do."""


def check_tool(tool: str) -> str:
    """`tool` when it is one of TOOLS, else ValueError."""
    if tool not in TOOLS:
        raise ValueError(f"Unknown tool {tool!r}: use one of {', '.join(TOOLS)}.")
    return tool


def run_status(status: str) -> str:
    """MLflow's status for `status` (MLflow's own names or core.jobs' 'done'/'stopped'/...)."""
    mapped = JOB_STATUS.get(status.lower(), status.upper())
    if mapped not in STATUSES:
        raise ValueError(f"Unknown run status {status!r}: use one of {', '.join(STATUSES)}.")
    return mapped


def check_artifact_path(name: str) -> str:
    """`name` as a relative '/' path inside a run, or ValueError."""
    clean = str(name).replace("\\", "/").strip("/")
    if not clean or clean.startswith("/") or ".." in clean.split("/") or ":" in clean:
        raise ValueError(f"Artifact name {name!r} must be a relative path such as 'model/w.bin'.")
    return clean


# ---- where the store is -------------------------------------------------------------


def tracking_uri() -> str:
    """The store's URI: $MLFLOW_TRACKING_URI, else SQLite under runs_dir()."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{paths.runs_dir() / 'mlflow.db'}"


def is_default_store(uri: str) -> bool:
    """True for the embedded SQLite store under runs_dir()."""
    return not os.environ.get("MLFLOW_TRACKING_URI") and uri == tracking_uri()


def is_http(uri: str) -> bool:
    """True for an MLflow server's URI."""
    return uri.startswith(("http://", "https://"))


def local_folder(uri: str) -> Path | None:
    """The folder a file or SQLite URI writes into (None for servers)."""
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).parent
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path)
    return None


def read_only_reason(uri: str | None = None) -> str:
    """Why new runs cannot be written into a local store that can still be read ("" when
    they can, and for servers, which say so when written to)."""
    uri = uri or tracking_uri()
    folder = local_folder(uri)
    if folder is None or not folder.is_dir():
        return ""
    db = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    blocked = [
        p for p in (folder, db) if p is not None and p.exists() and not os.access(p, os.W_OK)
    ]
    if not blocked:
        return ""
    return (
        f"The run store at {folder} is read-only: the runs already in it are listed, but new "
        "runs cannot be recorded. Make that folder writable, or set DASHBOARD_HOME (or "
        "MLFLOW_TRACKING_URI) to a place that is."
    )


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
    if is_http(uri):
        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
        _check_server(uri)
        return
    folder = local_folder(uri)
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(_os_message(err, folder)) from err


_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()
_experiments: dict[tuple[str, str], str] = {}  # (uri, tool) -> experiment id


def connect() -> tuple[Any, str]:
    """The MlflowClient for the current URI, built (and the schema migrated) once per process."""
    uri = tracking_uri()
    with _clients_lock:
        if uri not in _clients:
            _prepare(uri)
            with translated(uri, "open the run store"), _first_open_lock(uri):
                from mlflow import MlflowClient

                client = MlflowClient(tracking_uri=uri)
                client.search_experiments(max_results=1)  # opens the store: migrations happen here
            _clients[uri] = client
        return _clients[uri], uri


@contextlib.contextmanager
def _first_open_lock(uri: str) -> Iterator[None]:
    """Hold a file lock beside a SQLite store while opening it: two processes creating the
    same new store at once would both run the schema migrations and one would fail."""
    folder = local_folder(uri)
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        fcntl = None
    if fcntl is None or folder is None or not uri.startswith("sqlite:"):
        yield
        return
    try:
        lock = open(folder / ".mlflow-open.lock", "w")  # noqa: SIM115
    except OSError:  # a read-only store: nothing can be migrated there, so read it unlocked
        lock = None
    if lock is None:
        yield
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        yield


def warm() -> None:
    """Open the store and create every tool's experiment now (call it in a background
    thread); a read-only store is only opened (the page says why nothing can be recorded)."""
    client, uri = connect()
    create = not read_only_reason(uri)
    for tool in TOOLS:
        experiment_id(client, uri, tool, create=create)


def _artifact_location(uri: str, tool: str) -> str | None:
    """Artifacts of the embedded store go under runs_dir()/artifacts/<tool>."""
    if not is_default_store(uri):
        return None
    return (paths.runs_dir() / "artifacts" / tool).as_uri()


def experiment_id(client: Any, uri: str, tool: str, create: bool = True) -> str | None:
    """The id of `tool`'s experiment, created on first use (safe against a racing creator)."""
    key = (uri, tool)
    if key in _experiments:
        return _experiments[key]
    name = EXPERIMENT_PREFIX + tool
    with translated(uri, f"open the experiment {name}"):
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
            return _os_message(cause, local_folder(uri) or uri)
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
    if is_http(uri) and ("connection" in lowered or "max retries" in lowered):
        return (
            f"The MLflow server at {uri} stopped answering while trying to {action}. "
            "Check the server, or unset MLFLOW_TRACKING_URI to record into the local store."
        )
    if "not found" in lowered or "does not exist" in lowered:
        return f"Could not {action}: it is not in the run store (deleted?)."
    first = text.splitlines()[0] if text else type(err).__name__
    return f"Could not {action} ({uri}): {first[:300]}"


@contextlib.contextmanager
def translated(uri: str, action: str) -> Iterator[None]:
    """Turn any failure inside into a StoreError with a message a user can act on."""
    try:
        yield
    except StoreError:
        raise
    except Exception as err:
        raise StoreError(_message(err, uri, action)) from err


def reset() -> None:
    """Forget the cached clients and experiment ids (tests; after the URI changed)."""
    with _clients_lock:
        _clients.clear()
        _experiments.clear()
