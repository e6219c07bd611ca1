"""The train pages' "Run elsewhere" panel: the page's settings as run.json, the exact
`torchrun` commands for one machine with N GPUs or several nodes, and a check on this
machine (`torchrun --nproc-per-node 2`, a managed subprocess) whose progress is read back
from the run store.

    config = train.cnn_run_config(ds, model_cfg, train_cfg)
    cluster.run_elsewhere_ui("cnn", config, key="cnn_elsewhere")

Every widget key (and the session state it keeps) starts with the caller's `key`.
"""

from __future__ import annotations

import json

import streamlit as st

from core import train
from core.runs.types import Recorded
from ui.jobs import recorded_ui

PATH_SOURCES = ("zip", "folder", "text")  # data a worker reads from its own disk
LOCAL_RANKS = 2  # processes of the check on this machine
NOT_RECORDED = "the check could not reach the run store (its log above says why)."
KEPT = "Its results are in that log."


def _worker_path_ui(run_config: dict, key: str) -> dict:
    """run_config with the data path the workers will read (for uploads and files)."""
    data = dict(run_config["data"])
    if data["source"] not in PATH_SOURCES:
        return run_config
    data["path"] = st.text_input(
        "Data path on the workers",
        data.get("path") or "",
        key=f"{key}_path",
        help="The same .zip, folder of class folders or text file, copied to every node.",
    )
    return run_config | {"data": data}


def commands_ui(kind: str, key: str, name: str) -> None:
    """The commands for one machine with N GPUs and for several nodes."""
    c1, c2, c3 = st.columns(3)
    gpus = c1.number_input("GPUs per machine", 1, 64, 8, key=f"{key}_gpus")
    nodes = c2.number_input("Machines (nodes)", 1, 1024, 2, key=f"{key}_nodes")
    host = c3.text_input("First node's address", "node0.example", key=f"{key}_host")
    st.markdown("**One machine** (from the repository root, run.json beside it):")
    st.code(train.commands(kind, gpus=int(gpus)), language="bash")
    st.markdown(f"**{int(nodes)} machines**, the same command on each:")
    st.code(
        train.commands(kind, gpus=int(gpus), nodes=int(nodes), host=host, name=name),
        language="bash",
    )
    st.caption(
        "Each process gets batch / world size images per step, so the effective batch and "
        "the learning rate stay the page's. Rank 0 records into the run store "
        "(MLFLOW_TRACKING_URI, or each machine's local store); a failed worker restarts the "
        "group, which resumes from the last epoch's checkpoint."
    )


def _progress_ui(job: train.LocalJob, run_config: dict) -> None:
    """The check's progress read from the store, and its log."""
    from core import runs

    run_id = job.run_id()
    sizes = run_config["train"] | run_config["model"]  # a GPT-2's steps are in "model"
    total = sizes.get("epochs") or sizes.get("steps") or 1
    metric = "val_loss"  # logged at every epoch (cnn) or sample (gpt2)
    if run_id is None:
        st.progress(0.0, text="Starting the processes...")
    else:
        try:
            detail = runs.get_run(run_id)
        except runs.StoreError as err:
            st.warning(str(err))
            return
        # a metric with a single point is not a history yet
        steps = [s for s, _ in detail.history.get(metric, [])] or (
            [1] if metric in detail.metrics else []
        )
        done = max(steps, default=0)
        st.progress(min(done / total, 1.0), text=f"{done} of {total} recorded in run {run_id}")
        if detail.metrics:
            st.dataframe([detail.metrics], hide_index=True)
    with st.expander("Log"):
        st.code(job.log_tail() or "(nothing yet)", language=None)


def _follow_ui(name: str, run_config: dict, key: str) -> None:
    """The check's state; polled while it runs, and the page redrawn once it ends."""
    job = train.local_job(name)
    if job is None:
        return
    _progress_ui(job, run_config)
    if job.running:
        return
    if st.session_state.pop(f"{key}_following_{name}", False):
        st.rerun()  # the Start and Stop buttons change state
    if job.returncode == 0:
        run_id = job.run_id()
        st.success("The check finished.")
        recorded_ui(Recorded(run_id=run_id) if run_id else Recorded(reason=NOT_RECORDED), KEPT)
    else:
        st.error(f"The check ended with exit code {job.returncode}: see the log above.")


_poll_every_2s = st.fragment(_follow_ui, run_every=2.0)


def run_here_ui(run_config: dict, key: str) -> None:
    """Start / Stop the check on this machine and follow it from the store."""
    name = run_config["name"]
    job = train.local_job(name)
    running = job is not None and job.running
    data = run_config["data"]
    no_path = data["source"] in PATH_SOURCES and not data.get("path")
    b1, b2 = st.columns(2)
    if b1.button(
        f"Run here as a check ({LOCAL_RANKS} CPU processes)",
        key=f"{key}_start",
        disabled=running or no_path,
        help="Give the data path first." if no_path else None,
    ):
        try:
            train.start_local(run_config, LOCAL_RANKS)
        except ValueError as err:
            st.error(str(err))
            return
        st.rerun()
    if b2.button("Stop the check", key=f"{key}_stop", disabled=not running):
        job.stop()
        st.rerun()
    if running:
        st.session_state[f"{key}_following_{name}"] = True
        _poll_every_2s(name, run_config, key)
    else:
        _follow_ui(name, run_config, key)


def run_elsewhere_ui(kind: str, run_config: dict, key: str) -> None:
    """The Run-elsewhere panel for a train page: run.json, the commands, a local check."""
    with st.expander("Run elsewhere (torchrun on GPUs or several machines)"):
        run_config = _worker_path_ui(run_config, key)
        try:
            run_config = train.to_dict(train.spec_from_dict(run_config))
        except ValueError as err:
            st.error(str(err))
            return
        st.download_button(
            "Download run.json",
            json.dumps(run_config, indent=1),
            train.CONFIG_FILE,
            mime="application/json",
            key=f"{key}_json",
        )
        commands_ui(kind, key, run_config["name"])
        run_here_ui(run_config, key)
