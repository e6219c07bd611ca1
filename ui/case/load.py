"""Load a saved case back: from Runs -> Open a run -> "Open in Business case" (`?run=<id>`)
or the page's own picker. A loaded case says which saved case it came from and which inputs
were changed since. The run store (mlflow) loads only when a case is loaded or listed."""

from __future__ import annotations

import json

import streamlit as st

from core import tools
from core.economics import exports
from core.economics.case import Case
from ui.case import keep

LOADED = "case_loaded"  # session: the saved case loaded ({"id", "name", "start", "inputs"})
PROBLEM = "case_load_problem"  # session: why the last load failed
PICKED = "case_load_pick"  # the picker's key
SHOW = "case_load_show"  # the toggle that lists the saved cases


def load(run_id: str) -> None:
    """Put saved case `run_id`'s inputs into the widgets (before they are drawn, or from a
    callback); a case that cannot be loaded leaves the inputs and says why."""
    from core import runs  # the run store's package loads here, not on the page's first run

    state = st.session_state
    state.pop(PROBLEM, None)
    try:
        summary = runs.get_run(run_id).summary
        saved = json.loads(runs.load_artifact(run_id, exports.CASE_FILE))
    except (runs.StoreError, ValueError) as err:
        state[PROBLEM] = (
            f"Could not load saved case {run_id}: {err} Cases saved before loading back was "
            "possible show their inputs on the Runs page."
        )
        return
    keep.put(saved.get("widgets", {}))
    state[LOADED] = {
        "id": run_id,
        "name": summary.name,
        "start": f"{summary.start:%Y-%m-%d %H:%M} UTC",
        "inputs": saved.get("inputs", {}),
    }


def link_ui() -> None:
    """Before the widgets: a case named by `?run=<id>` (Runs' "Open in Business case")."""
    wanted = st.query_params.get(tools.RUN_PARAM)
    if wanted:
        st.query_params.pop(tools.RUN_PARAM)
        load(wanted)


def picker_ui() -> None:
    """'Load a saved case': the business cases in the run store, newest first."""
    with st.expander("Load a saved case"):
        if not st.toggle("List the saved cases", key=SHOW):
            return
        from core import runs

        try:
            found = {r.id: r for r in runs.list_runs(tool="business")}
        except runs.StoreError as err:
            st.warning(f"The run store could not be read: {err}")
            return
        if not found:
            st.caption("No saved case yet: press **Save this case** below the figures.")
            return
        picked = st.selectbox(
            "Saved case",
            list(found),
            key=PICKED,
            format_func=lambda i: f"{found[i].name} - saved {found[i].start:%Y-%m-%d %H:%M}",
        )
        st.button("Load it", key="case_load_button", on_click=load, args=(picked,))


def loaded_ui(case: Case) -> None:
    """Which saved case the inputs came from and what was changed since; why a load failed."""
    state = st.session_state
    if PROBLEM in state:
        st.warning(state[PROBLEM])
    loaded = state.get(LOADED)
    if not loaded:
        return
    changed = exports.changed_inputs(loaded["inputs"], case)
    since = "Changed since: " + "; ".join(changed) + "." if changed else "No input changed since."
    st.info(
        f"Loaded from saved case **{loaded['name']}** (run {loaded['id']}, saved "
        f"{loaded['start']}). {since}"
    )
