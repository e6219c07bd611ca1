"""The run store against real SQLite MLflow stores in temporary home folders."""

from __future__ import annotations

import datetime as dt
import errno
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import plotly.graph_objects as go
import pytest

from core import runs
from core.runs.types import RunRecord

ROOT = Path(__file__).resolve().parents[1]


def use_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Point the run store at the embedded default under `home`."""
    monkeypatch.setenv("DASHBOARD_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    runs.reset()


@pytest.fixture(scope="module")
def store_home(tmp_path_factory):
    """One embedded store shared by this module's round-trip tests (migrations cost seconds)."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        use_home(mp, home)
        yield home
    runs.reset()


@pytest.fixture
def store(store_home, monkeypatch):
    """The shared store, with the environment set for this test."""
    use_home(monkeypatch, store_home)
    return store_home


def cnn_run(name: str = "digits", folder: Path | None = None, **extra) -> str:
    """Record a CNN-like run with every kind of content."""
    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[0.9, 0.5, 0.2], name="loss"))
    artifacts = {"model/weights.safetensors": b"\x00\x01\x02", "card.md": "# digits"}
    if folder is not None:
        artifacts["export"] = folder
    return runs.record(
        "cnn",
        RunRecord(
            name=name,
            params={"model": {"blocks": 3, "width": 16}, "lr": 0.01, "classes": ["0", "1"]},
            metrics={"test_accuracy": 0.975, "images_per_s": 7800.0},
            history=[{"epoch": e, "loss": 1 / e, "note": "text is skipped"} for e in (1, 2, 3)],
            step_key="epoch",
            tables={
                "per_class": [{"class": "0", "precision": 0.98}, {"class": "1", "precision": 0.97}]
            },
            figures={"curves": fig},
            artifacts=artifacts,
            tags={"device": "cpu"},
            **extra,
        ),
    )


def test_importing_core_runs_does_not_import_mlflow():
    code = "import sys, core.runs; assert 'mlflow' not in sys.modules, 'mlflow imported'"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_record_list_get_round_trip(store, tmp_path):
    folder = tmp_path / "export"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"onnx")
    (folder / "sub" / "config.json").write_text('{"a": 1}')
    run_id = cnn_run("round trip", folder)

    listed = {r.id: r for r in runs.list_runs(tool="cnn")}
    assert listed[run_id].name == "round trip"
    assert listed[run_id].status == "FINISHED"
    assert listed[run_id].headline == pytest.approx(0.975)
    assert listed[run_id].headline_text == "97.5 %"
    assert listed[run_id].device == "cpu"

    run = runs.get_run(run_id)
    assert run.params["model.blocks"] == "3" and run.params["lr"] == "0.01"
    assert json.loads(run.params["classes"]) == ["0", "1"]
    assert run.metrics["test_accuracy"] == pytest.approx(0.975)
    assert run.history["loss"] == [(1, 1.0), (2, 0.5), (3, pytest.approx(1 / 3))]
    assert "note" not in run.metrics
    assert run.tables["per_class"][1] == {"class": "1", "precision": 0.97}
    assert list(run.figure("curves").data[0].y) == [0.9, 0.5, 0.2]
    assert run.summary.tags["host"] == socket.gethostname()
    assert run.summary.tags["app_version"]
    files = {a.path for a in run.artifacts}
    assert {"figures/curves.html", "export/sub/config.json", "card.md", "params.json"} <= files

    assert runs.load_artifact(run_id, "model/weights.safetensors") == b"\x00\x01\x02"
    assert runs.load_artifact(run_id, "card.md") == b"# digits"
    local = runs.download_folder(run_id, "export")
    assert (local / "model.onnx").read_bytes() == b"onnx"
    assert json.loads((local / "sub" / "config.json").read_text()) == {"a": 1}
    assert runs.mlflow_ui_url(run_id) is None  # no MLflow server configured


def test_live_run_is_listed_as_running_then_finished(store):
    live = runs.start("gpt2", name="own text", params={"n_layer": 2}, tags={"device": "cpu"})
    live.log(1, loss=3.0, lr=0.001)
    live.log(2, loss=2.5, lr=0.001)
    running = {r.id: r for r in runs.list_runs(status="RUNNING")}
    assert running[live.id].end is None and running[live.id].tool == "gpt2"
    live.finish("done", metrics={"val_loss": 2.4})

    run = runs.get_run(live.id)
    assert run.summary.status == "FINISHED"
    assert run.history["loss"] == [(1, 3.0), (2, 2.5)]
    assert run.summary.headline == pytest.approx(2.4)
    assert live.id not in {r.id for r in runs.list_runs(status="RUNNING")}


def test_metric_history_keeps_every_point_repeats_too(store):
    live = runs.start("gpt2", name="restarted", params={})
    live.log(1, val_loss=3.0)
    live.log(1, val_loss=2.9)  # a job restarted from its checkpoint logged step 1 again
    live.log(2, val_loss=2.5)
    live.finish("done")
    assert runs.metric_history(live.id, "val_loss") == [(1, 2.9), (1, 3.0), (2, 2.5)]
    assert runs.metric_history(live.id, "no_such_metric") == []


def test_live_run_fails_when_the_job_raises(store):
    with pytest.raises(RuntimeError), runs.start("gpt2", name="crash", params={}) as live:
        live.log(1, loss=1.0)
        raise RuntimeError("worker died")
    assert runs.get_run(live.id).summary.status == "FAILED"


def test_filters_by_tool_status_and_date(store):
    chat = runs.record(
        "chat", RunRecord(name="saved chat", params={}, metrics={"tokens_per_s": 16.1})
    )
    killed = runs.record(
        "optimizers",
        RunRecord(name="race", params={}, metrics={"best_final_loss": 0.01}, status="stopped"),
    )
    assert [r.id for r in runs.list_runs(tool="chat")] == [chat]
    assert killed in {r.id for r in runs.list_runs(status="KILLED")}
    assert chat not in {r.id for r in runs.list_runs(status="KILLED")}
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert runs.list_runs(since=tomorrow) == []
    assert chat in {r.id for r in runs.list_runs(since=dt.date.today() - dt.timedelta(days=1))}
    every = runs.list_runs()
    assert [r.start for r in every] == sorted((r.start for r in every), reverse=True)


def test_delete_removes_run_and_its_files(store):
    run_id = cnn_run("to delete")
    folder = store / "runs" / "artifacts" / "cnn" / run_id
    assert folder.is_dir()
    runs.delete_run(run_id)
    assert run_id not in {r.id for r in runs.list_runs()}
    assert not folder.exists()
    with pytest.raises(runs.StoreError, match="deleted"):
        runs.get_run(run_id)
    with pytest.raises(runs.StoreError, match="deleted"):
        runs.load_artifact(run_id, "card.md")


def test_deleted_artifact_file_is_a_clear_error(store):
    run_id = cnn_run("file removed by hand")
    (store / "runs" / "artifacts" / "cnn" / run_id / "artifacts" / "card.md").unlink()
    with pytest.raises(runs.StoreError, match="gone from the run store"):
        runs.load_artifact(run_id, "card.md")
    with pytest.raises(runs.StoreError, match="gone from the run store"):
        runs.download_folder(run_id, "no/such/folder")


def test_bad_arguments_are_value_errors(store):
    with pytest.raises(ValueError, match="Unknown tool"):
        runs.record("vision", RunRecord(name="x", params={}, metrics={}))
    with pytest.raises(ValueError, match="status"):
        runs.record("cnn", RunRecord(name="x", params={}, metrics={}, status="great"))
    with pytest.raises(ValueError, match="relative path"):
        runs.record(
            "cnn", RunRecord(name="x", params={}, metrics={}, artifacts={"../escape": b"x"})
        )
    with pytest.raises(ValueError, match="does not exist"):
        runs.record(
            "cnn", RunRecord(name="x", params={}, metrics={}, artifacts={"m": Path("/no/such")})
        )


def test_concurrent_writers_lose_nothing(tmp_path, monkeypatch):
    use_home(monkeypatch, tmp_path)  # a fresh store: the threads also race to create it
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            for j in range(4):
                runs.record(
                    "cnn",
                    RunRecord(
                        name=f"w{i}-{j}",
                        params={"writer": i},
                        metrics={"test_accuracy": j / 10},
                        history=[{"step": s, "loss": s * 0.1} for s in range(5)],
                        tables={"t": [{"i": i}]},
                    ),
                )
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert errors == []
    names = sorted(r.name for r in runs.list_runs(tool="cnn"))
    assert names == sorted(f"w{i}-{j}" for i in range(4) for j in range(4))
    assert all(len(runs.get_run(r.id).history["loss"]) == 5 for r in runs.list_runs()[:3])


def test_two_processes_opening_a_new_store_at_once_both_record(tmp_path, monkeypatch):
    use_home(monkeypatch, tmp_path)
    code = (
        "import sys; from core import runs; "
        "runs.record('cnn', runs.RunRecord(name=sys.argv[1], params={}, metrics={}))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, f"process {i}"], cwd=ROOT, stderr=subprocess.PIPE
        )
        for i in range(2)
    ]
    errors = [p.communicate(timeout=240)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert sorted(r.name for r in runs.list_runs()) == ["process 0", "process 1"]


def test_tracking_uri_set_by_the_user_wins(tmp_path, monkeypatch):
    use_home(monkeypatch, tmp_path / "home")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'team' / 'store.db'}")
    run_id = runs.record(
        "business", RunRecord(name="case", params={}, metrics={"training_cost_usd": 1e4})
    )
    assert (tmp_path / "team" / "store.db").is_file()
    assert not (tmp_path / "home" / "runs" / "mlflow.db").exists()
    assert runs.list_runs()[0].headline_text == "$10k"
    assert runs.get_run(run_id).summary.name == "case"


def test_unwritable_home_is_a_store_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # no folder can be made under a file, even by root
    use_home(monkeypatch, blocker / "home")
    with pytest.raises(runs.StoreError, match="cannot be written"):
        runs.record("cnn", RunRecord(name="x", params={}, metrics={"test_accuracy": 1.0}))
    with pytest.raises(runs.StoreError, match="DASHBOARD_HOME"):
        runs.list_runs()


def test_full_disk_is_a_store_error_and_the_run_is_marked_failed(store, monkeypatch):
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(LocalArtifactRepository, "log_artifacts", full)
    with pytest.raises(runs.StoreError, match="full"):
        cnn_run("disk full")
    failed = [r for r in runs.list_runs(tool="cnn") if r.name == "disk full"]
    assert [r.status for r in failed] == ["FAILED"]


def test_bad_uri_is_a_store_error(monkeypatch, tmp_path):
    use_home(monkeypatch, tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "foo://nowhere")
    with pytest.raises(runs.StoreError, match="not a tracking store"):
        runs.list_runs()


@pytest.mark.timeout(60)
def test_unreachable_server_is_a_store_error_not_a_hang(monkeypatch, tmp_path):
    use_home(monkeypatch, tmp_path)
    silent = socket.socket()  # accepts connections and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, not listening: connection refused
    try:
        for sock in (silent, closed):
            port = sock.getsockname()[1]
            monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
            with pytest.raises(runs.StoreError, match="does not answer"):
                runs.record("chat", RunRecord(name="x", params={}, metrics={}))
    finally:
        silent.close()
        closed.close()


def test_a_full_runs_folder_refuses_a_new_run_with_what_to_do(store, monkeypatch):
    runs.record("business", RunRecord(name="fits", params={}, metrics={"training_cost_usd": 1.0}))
    monkeypatch.setenv("DASHBOARD_MAX_RUNS_GB", "1e-9")  # 1 byte: the store itself is more
    with pytest.raises(runs.StoreError, match="DASHBOARD_MAX_RUNS_GB"):
        runs.record(
            "business", RunRecord(name="too much", params={}, metrics={"training_cost_usd": 2.0})
        )
