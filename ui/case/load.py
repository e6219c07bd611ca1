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


WIDGET_OF = {  # a saved case's param -> (widget key, how its text becomes the widget's value)
    "train.params": ("case_train_params_b", lambda v: float(v) / 1e9),
    "train.tokens": ("case_train_tokens_b", lambda v: float(v) / 1e9),
    "train.gpu": ("case_train_gpu", str),
    "train.n_gpus": ("case_train_n_gpus", int),
    "train.mfu": ("case_train_mfu", float),
    "train.mixed_precision": ("case_train_mixed_precision", lambda v: v == "True"),
    "train.checkpointing": ("case_train_checkpointing", lambda v: v == "True"),
    "train.seq_len": ("case_train_seq_len", int),
    "train.micro_batch": ("case_train_micro_batch", int),
    "train.pue": ("case_train_pue", float),
    "train.grid_g_per_kwh": ("case_train_grid", float),
    "serve.precision": ("case_serve_precision", str),
    "serve.gpu": ("case_serve_gpu", str),
    "serve.input_tokens": ("case_serve_input_tokens", lambda v: int(float(v))),
    "serve.output_tokens": ("case_serve_output_tokens", lambda v: int(float(v))),
    "serve.utilisation": ("case_serve_utilisation", float),
    "startup.cash": ("case_cash", float),
    "startup.retrains_per_year": ("case_retrains_per_year", float),
    "startup.other_monthly": ("case_other_monthly", float),
    "startup.users": ("case_users", float),
    "startup.pilot_users": ("case_pilot_users", float),
    "startup.price_per_user": ("case_price_per_user", float),
    "startup.monthly_growth": ("case_growth_pct", lambda v: float(v) * 100),
}


def widgets_from_params(params: dict[str, str]) -> keep.Inputs:
    """The widget values of a case saved before cases carried their widgets: read back from
    its params (text). The model served and the load are matched where they can be; the
    prices open at the catalog's."""
    from core.economics.catalog import model_presets

    found: keep.Inputs = {"case_pilot_users": 0.0}  # no pilot before pilots were an input
    for name, (key, read) in WIDGET_OF.items():
        if name in params:
            try:
                found[key] = read(params[name])
            except ValueError:
                continue
    model = params.get("serve.model name", "")
    if model in model_presets():
        found["case_serve_model"] = model
        found[f"case_serve_context_{model}"] = int(params.get("serve.context_len", 4096))
    users = found.get("case_users", 0.0) + found.get("case_pilot_users", 0.0)
    if users and "serve.requests_per_day" in params:
        found["case_serve_requests_per_user"] = float(params["serve.requests_per_day"]) / users
    return found


def load(run_id: str) -> None:
    """Put saved case `run_id`'s inputs into the widgets (before they are drawn, or from a
    callback); a case that cannot be loaded leaves the inputs and says why."""
    from core import runs  # the run store's package loads here, not on the page's first run

    state = st.session_state
    state.pop(PROBLEM, None)
    try:
        detail = runs.get_run(run_id)
        summary = detail.summary
        if any(a.path == exports.CASE_FILE for a in detail.artifacts):
            saved = json.loads(runs.load_artifact(run_id, exports.CASE_FILE))
        else:  # saved before cases carried their widgets: read back from the params
            saved = {"widgets": widgets_from_params(detail.params), "inputs": None}
    except (runs.StoreError, ValueError) as err:
        state[PROBLEM] = f"Could not load saved case {run_id}: {err}"
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
    if loaded["inputs"] is None:  # an older case read back from its params: from here on
        loaded["inputs"], loaded["read_back"] = exports.input_values(case), True
    read_back = " Read back from its settings (saved before cases loaded back)."
    read_back = read_back if loaded.get("read_back") else ""
    changed = exports.changed_inputs(loaded["inputs"], case)
    since = "Changed since: " + "; ".join(changed) + "." if changed else "No input changed since."
    st.info(
        f"Loaded from saved case **{loaded['name']}** (run {loaded['id']}, saved "
        f"{loaded['start']}). {since}{read_back}"
    )
