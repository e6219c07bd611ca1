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
fails, or `ValueError` for bad arguments. The package:

    types   RunRecord, Recorded (what goes in); RunSummary, RunDetail, Artifact (what comes out)
    store   where the store is, one client per URI, one experiment per tool, StoreError
    write   record, try_record; start, reopen -> LiveRun (log, log_history, tag, finish)
    live    follow -> Following (a job's run live from its first step); sweep (runs whose
            process died, closed as KILLED with a note); run_of_job
    owner   who owns a RUNNING run (host, pid, its start time) and its heartbeat
    read    list_runs, get_run, metric_history, load_artifact, download_folder, delete_run
    quick   quick_list: the runs list read with sqlite3 while MLflow still loads
    pitch   chosen runs and a business case -> the pitch pack (HTML, PDF)
"""

from core.runs.live import Following, follow, run_of_job, stale, sweep, try_sweep
from core.runs.owner import HEARTBEAT, JOB_ID, NOTE
from core.runs.quick import quick_list
from core.runs.read import (
    delete_run,
    download_folder,
    get_run,
    list_runs,
    load_artifact,
    metric_history,
    mlflow_ui_url,
)
from core.runs.store import (
    EXPERIMENT_PREFIX,
    FIGURES_DIR,
    HEADLINES,
    HTTP_DEFAULTS,
    JOB_STATUS,
    PARAMS_FILE,
    SERVER_CHECK_TIMEOUT_S,
    STATUSES,
    TABLES_DIR,
    TOOL_LABELS,
    TOOLS,
    Headline,
    StoreError,
    is_default_store,
    read_only_reason,
    reset,
    tracking_uri,
    warm,
)
from core.runs.types import Artifact, Recorded, RunDetail, RunRecord, RunSummary, format_value
from core.runs.write import (
    BATCH_METRICS,
    BATCH_PARAMS,
    FIGURE_HTML_PLOTLYJS,
    PARAM_VALUE_CHARS,
    LiveRun,
    app_version,
    flatten,
    record,
    reopen,
    start,
    try_record,
)

__all__ = [
    "quick_list",
    "BATCH_METRICS",
    "BATCH_PARAMS",
    "EXPERIMENT_PREFIX",
    "FIGURES_DIR",
    "FIGURE_HTML_PLOTLYJS",
    "HEADLINES",
    "HTTP_DEFAULTS",
    "JOB_STATUS",
    "PARAMS_FILE",
    "PARAM_VALUE_CHARS",
    "SERVER_CHECK_TIMEOUT_S",
    "STATUSES",
    "TABLES_DIR",
    "TOOLS",
    "TOOL_LABELS",
    "Artifact",
    "Headline",
    "HEARTBEAT",
    "JOB_ID",
    "NOTE",
    "Following",
    "LiveRun",
    "Recorded",
    "RunDetail",
    "RunRecord",
    "RunSummary",
    "StoreError",
    "app_version",
    "delete_run",
    "download_folder",
    "flatten",
    "follow",
    "run_of_job",
    "stale",
    "sweep",
    "try_sweep",
    "format_value",
    "get_run",
    "is_default_store",
    "list_runs",
    "load_artifact",
    "metric_history",
    "mlflow_ui_url",
    "record",
    "read_only_reason",
    "reopen",
    "reset",
    "start",
    "tracking_uri",
    "try_record",
    "warm",
]
