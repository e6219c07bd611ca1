"""The Runs page through AppTest, on runs recorded into a temporary MLflow store."""

from __future__ import annotations

import datetime as dt
import threading

import plotly.graph_objects as go
import pytest

from core import jobs, runs
from core.runs.types import RunRecord
from tests.helpers import open_page, widget_keys

PAGE = "pages/runs.py"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Three CNN runs, a chat and a business case in a fresh store; their ids by name."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DASHBOARD_HOME", str(home))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        runs.reset()
        ids = {}
        for name, lr, acc in (
            ("small lr", 0.001, 0.91),
            ("big lr", 0.1, 0.97),
            ("mid", 0.01, 0.95),
        ):
            ids[name] = runs.record(
                "cnn",
                RunRecord(
                    name=name,
                    params={"optimizer": {"lr": lr, "name": "AdamW"}, "epochs": 3},
                    metrics={"test_accuracy": acc},
                    history=[{"step": s, "loss": lr * 10 / s} for s in (1, 2, 3)],
                    figures={"confusion": go.Figure(go.Heatmap(z=[[5, 1], [0, 6]]))},
                    tables={"per_class": [{"class": "0", "recall": acc}]},
                    artifacts={"model.safetensors": b"weights"},
                    tags={"device": "cpu"},
                ),
            )
        ids["chat"] = runs.record(
            "chat", RunRecord(name="chat", params={}, metrics={"tokens_per_s": 16.1})
        )
        ids["case"] = runs.record(
            "business",
            RunRecord(name="seed case", params={"gpu": "H100"}, metrics={"training_cost_usd": 9e3}),
        )
        yield home, ids
    runs.reset()


@pytest.fixture
def store(recorded, monkeypatch) -> dict[str, str]:
    """The recorded runs' ids, with this test's environment pointing at their store."""
    home, ids = recorded
    monkeypatch.setenv("DASHBOARD_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return ids


def table(at) -> list[dict]:
    return at.dataframe[0].value.to_dict("records")


def test_recorded_runs_are_listed_newest_first_with_headlines(store):
    at = open_page(PAGE)
    assert not at.exception
    rows = table(at)
    assert [r["Name"] for r in rows] == ["seed case", "chat", "mid", "big lr", "small lr"]
    assert rows[2]["Result"] == "Test accuracy 95 %" and rows[0]["Result"] == "Training cost $9k"
    assert rows[1]["Result"] == "Speed 16.1 tokens/s"
    assert "No job is running." in [c.value for c in at.caption]


def test_filter_by_tool(store):
    at = open_page(PAGE)
    at.selectbox(key="runs_tool").set_value("cnn").run()
    assert [r["Tool"] for r in table(at)] == ["Train a CNN"] * 3
    assert [r["Test accuracy"] for r in table(at)] == ["95 %", "97 %", "91 %"]
    at.selectbox(key="runs_status").set_value("KILLED").run()
    assert [i.value for i in at.info] == [
        "No runs match. Train a CNN, race optimizers, or save a chat or a business case."
    ]


def test_compare_overlays_curves_and_diffs_only_what_differs(store):
    at = open_page(PAGE)
    at.multiselect(key="runs_compare").set_value([store["small lr"], store["big lr"]]).run()
    assert not at.exception
    diff = at.dataframe[1].value
    assert list(diff.index) == ["optimizer.lr"]  # epochs and the optimizer's name are the same
    assert list(diff.loc["optimizer.lr"]) == ["0.001", "0.1"]
    results = at.dataframe[2].value
    assert list(results.loc["test_accuracy"]) == [0.91, 0.97]
    charts = at.get("plotly_chart")
    assert len(charts) == 3  # the loss curves overlaid, and each run's confusion matrix


def test_compare_refuses_runs_of_two_tools(store):
    at = open_page(PAGE)
    at.multiselect(key="runs_compare").set_value([store["mid"], store["chat"]]).run()
    assert [w.value for w in at.warning] == ["Compare runs of one tool at a time."]


def test_a_run_opens_from_the_url_with_a_link_to_load_its_model(store):
    at = open_page(PAGE)
    at.query_params["run"] = store["mid"]
    at.run()
    assert not at.exception
    assert [m.value for m in at.metric] == ["95 %"]
    assert [s.value for s in at.subheader][-1] == "mid"
    link = [p for p in at.get("page_link") if p.proto.label.startswith("Load this model")]
    assert len(link) == 1 and link[0].proto.page == "train_cnn"
    assert f"run={store['mid']}" in link[0].proto.query_string


def test_delete_asks_first_and_then_removes_the_run(store):
    victim = runs.record(
        "cnn", RunRecord(name="to delete", params={}, metrics={"test_accuracy": 0.5})
    )
    at = open_page(PAGE)
    at.selectbox(key="runs_open").set_value(victim).run()
    at.button(key="runs_delete").click().run()
    assert [w.value for w in at.warning] == ["Delete **to delete** and its files for good?"]
    at.button(key="runs_delete_cancel").click().run()
    assert "to delete" in [r["Name"] for r in table(at)]
    at.button(key="runs_delete").click().run()
    at.button(key="runs_delete_confirm").click().run()
    assert not at.exception
    assert "to delete" not in [r["Name"] for r in table(at)]
    assert victim not in {r.id for r in runs.list_runs()}


def test_pitch_pack_offers_a_download(store):
    at = open_page(PAGE)
    assert "Pick runs (and a saved business case) to build the pack." in [i.value for i in at.info]
    at.multiselect(key="runs_pitch_runs").set_value([store["mid"], store["chat"]]).run()
    at.selectbox(key="runs_pitch_case").set_value(store["case"]).run()
    assert not at.get("download_button")  # built only when asked
    at.button(key="runs_pitch_build").click().run()
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download the pitch pack (HTML)" in labels
    html = at.session_state["runs_pitch_pack"].html
    assert "<h3>mid</h3>" in html and "<h2>Chat demo</h2>" in html
    assert "<h2>Business case</h2>" in html and "<h2>Methods</h2>" in html
    assert not at.get("iframe")  # the preview only when asked for (5 MB each rerun)
    at.toggle(key="runs_pitch_preview").set_value(True).run()
    assert at.get("iframe")  # the preview in the page


def test_running_jobs_are_listed_with_progress(store):
    release = threading.Event()

    def work(ctx):
        ctx.report(0.25, "epoch 1 of 4")
        release.wait(30)

    job = jobs.submit(work, "train digits", tool="cnn", meta={"page_key": "cnn_job"})
    try:
        at = open_page(PAGE)
        assert "**train digits** - Train a CNN" in [m.value for m in at.markdown]
        assert at.get("progress")[0].proto.text.startswith("epoch 1 of 4 - 25%")
        follow = [p for p in at.get("page_link") if p.proto.label == "Follow it on its page"]
        assert f"cnn_job={job.id}" in follow[0].proto.query_string
    finally:
        release.set()
        job.wait(10)


def test_store_failure_is_a_message_and_the_page_still_draws(store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "foo://nowhere")
    at = open_page(PAGE)
    assert not at.exception
    assert [t.value for t in at.title] == ["Runs"]
    assert "is not a tracking store MLflow knows" in at.error[0].value
    assert "The tools still work" in at.error[0].value


def test_every_widget_key_on_the_page_starts_with_runs(store):
    at = open_page(PAGE)
    at.query_params["run"] = store["mid"]
    at.run()
    at.multiselect(key="runs_compare").set_value([store["small lr"], store["big lr"]]).run()
    at.button(key="runs_delete").click().run()
    at.multiselect(key="runs_pitch_runs").set_value([store["mid"]]).run()
    at.button(key="runs_pitch_build").click().run()
    assert not at.exception
    keys = widget_keys(at.main)
    drawn = {"runs_compare", "runs_open", "runs_delete_confirm", "runs_pitch_build"}
    assert drawn <= set(keys)  # every panel was drawn: compare, an open run, the pitch pack
    assert [k for k in keys if not k.startswith("runs_")] == []


def test_pitch_pack_quotes_the_turns_the_founder_chose(store):
    turns = [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
        {"role": "assistant", "content": "second answer"},
    ]
    said = runs.record(
        "chat",
        RunRecord(
            name="chat with /tmp/home/models/my-gpt2",
            params={"model": "/tmp/home/models/my-gpt2", "parameters": 544256},
            metrics={"tokens_per_s": 20.0},
            tables={"transcript": turns},
        ),
    )
    at = open_page(PAGE)
    at.multiselect(key="runs_pitch_runs").set_value([said]).run()
    at.text_input(key="runs_pitch_product").set_value("Vino AI").run()
    at.text_area(key="runs_pitch_summary").set_value("Wine advice for everyone.").run()
    at.multiselect(key=f"runs_pitch_turns_{said}").set_value([2, 3]).run()
    at.button(key="runs_pitch_build").click().run()
    assert not at.exception
    html = at.session_state["runs_pitch_pack"].html
    assert "Chat with my-gpt2 (0.54M parameters)" in html
    assert "second answer" in html and "first answer" not in html
    assert "Vino AI" in html and "Wine advice for everyone." in html
    assert "/tmp/home" not in html


def test_the_store_opens_in_the_background_as_the_page_starts(store, monkeypatch):
    from ui.runs import listing

    opened_in = []
    monkeypatch.setattr(runs, "warm", lambda: opened_in.append(threading.current_thread().name))
    listing.store_opener.clear()
    try:
        at = open_page(PAGE)
        assert not at.exception and table(at)  # the table once the store is open
        assert opened_in == ["open the run store"]  # not on the page's own thread
    finally:
        listing.store_opener.clear()


def test_the_quick_list_reads_the_store_as_mlflow_does(store):
    """The list drawn before MLflow has loaded: the same rows list_runs gives, filters too."""
    since = dt.date(2000, 1, 1)
    for tool, status in ((None, None), ("optimizers", None), (None, "FINISHED")):
        assert runs.quick_list(tool, status, since) == runs.list_runs(
            tool=tool, status=status, since=since
        )
    assert runs.quick_list(since=dt.date(2999, 1, 1)) == []


def test_the_quick_list_leaves_other_stores_to_mlflow(store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    assert runs.quick_list() is None
