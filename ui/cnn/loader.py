"""A model loaded back: from a recorded run (`?run=<id>` or the picker), with its full
diagnostics when its data are picked above, or from a .safetensors and its .json."""

from __future__ import annotations

import streamlit as st

import ui
from core import runs, units
from core.vision import data, export, tool
from ui.cnn import results, try_it

RUN = "run"  # the URL parameter of a recorded run: ?run=<id> (kept: links point at it)
LINKED = "cnn_linked_run"  # session state: the ?run= last opened, so a new link opens once
HELD = "cnn_loaded_runs"  # session state: run id -> RecordedModel, (.., data) -> Outcome
RECORDED_RUN = "cnn_run"  # widget keys of a recorded run's block
FILES = "cnn_files"  # widget keys of a model loaded from files


def loader_ui(ds: data.ImageTensors | None, device: str) -> None:
    """Load a model back: from a recorded run (`?run=<id>` or the picker) or from files. Behind
    a toggle, so the run store is read only when asked."""
    st.divider()
    linked = st.query_params.get(RUN)
    if linked and st.session_state.get(LINKED) != linked:  # a new link opens it once
        st.session_state["cnn_load"] = True
        st.session_state[LINKED] = linked
    if not st.toggle("Load a model", key="cnn_load"):
        return
    from_run, from_files = st.tabs(["From a recorded run", "From files"])
    with from_run:
        run_ui(ds, device)
    with from_files:
        files_ui()


def pick_run_ui() -> str | None:
    """The run picked, or the one in the URL; None (with the store's problem shown if any)."""
    try:
        listed = runs.list_runs(tool=tool.TOOL, limit=50)
    except runs.StoreError as err:
        st.warning(f"The run store cannot be read: {err}")
        return None
    ids = [r.id for r in listed]
    wanted = st.query_params.get(RUN)
    labels = {r.id: f"{r.name} - {r.headline_text} - {r.start:%Y-%m-%d %H:%M}" for r in listed}
    pick = st.selectbox(
        "Recorded run",
        [None, *ids],
        index=ids.index(wanted) + 1 if wanted in ids else 0,
        format_func=lambda i: "Pick a run" if i is None else labels[i],
        key="cnn_run_pick",
    )
    return pick or wanted


def run_ui(ds: data.ImageTensors | None, device: str) -> None:
    """A recorded run's model: its full results on its own data, else a summary and Try it."""
    if (run_id := pick_run_ui()) is None:
        return
    held = st.session_state.setdefault(HELD, {})
    try:
        recorded = held[run_id] = held.get(run_id) or tool.load_run(run_id)
    except (runs.StoreError, ValueError) as err:
        st.error(f"Cannot load run {run_id}: {err}")
        return
    if ds is not None and recorded.params["data"]["label"] == ds.describe():
        key = ("outcome", run_id, ds.describe())
        held[key] = held.get(key) or tool.outcome_of(recorded, ds)
        results.outcome_ui(held[key], ds, device, RECORDED_RUN)
        return
    st.caption(
        f"Run {run_id}: trained on {recorded.params['data']['label']}; test accuracy "
        f"{units.percent(recorded.metrics['test_accuracy'])}. Pick that data above for its "
        "full diagnostics."
    )
    if per_class := recorded.tables.get("per_class"):
        st.dataframe(per_class, hide_index=True)
    try_it.try_ui(recorded.classifier, RECORDED_RUN)


def files_ui() -> None:
    """A model from its exported .safetensors and .json, to try."""
    c1, c2 = st.columns(2)
    w = c1.file_uploader("Weights (.safetensors)", type=["safetensors"], key="cnn_load_weights")
    m = c2.file_uploader("Its .json", type=["json"], key="cnn_load_meta")
    if w is None or m is None or (weights := ui.upload_bytes(w)) is None:
        return
    if (meta := ui.upload_bytes(m)) is None:
        return
    try:
        model = export.load_safetensors(weights, meta.decode("utf-8", "replace"))
    except ValueError as err:
        st.error(str(err))
        return
    cfg = model.config
    st.success(
        f"Loaded: {cfg.describe()}, {len(model.classes)} classes, "
        f"{cfg.image_size}x{cfg.image_size}."
    )
    try_it.try_ui(model, FILES)
