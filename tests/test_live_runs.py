"""Runs that survive their process (issue 23): a job's run is in the store, RUNNING with its
owner and its rows so far, from its first step; a run whose process died is closed as
KILLED with a note and its metrics kept; a run of another host waits for its heartbeat."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import jobs, runs, train
from core.runs import live, owner
from core.vision import data, model, tool, trainer

ROOT = Path(__file__).resolve().parents[1]
DIGITS = data.load_digits("cpu")
MODEL = model.CNNConfig(in_channels=1, num_classes=10, image_size=8, blocks=1, width=8)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    runs.reset()
    yield tmp_path / "home"
    runs.reset()


def dead_pid() -> int:
    """The id of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def wait_for(check, timeout: float = 300.0, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError("timed out")


def child_env(home, **extra: str) -> dict:
    """The environment of a child process on the test's store (the tests' own tracking URI
    left out, so the child finds the store under `home`)."""
    env = os.environ | {"DASHBOARD_HOME": str(home), "PYTHONPATH": str(ROOT)} | extra
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def sigkilled_while_running(cmd: list[str], home, tool_name: str, epochs: int):
    """(the child's pid, its RUNNING run of `tool_name` once it has `epochs` epochs in the
    store): the child is SIGKILLed then, as a crashed server is."""
    env = child_env(home, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        run = wait_for(lambda: proc.poll() is None and running_with_epochs(tool_name, epochs))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    return proc.pid, run


def running_with_epochs(tool_name: str, epochs: int):
    """The RUNNING run of `tool_name` once it has `epochs` epochs of val_loss in the store."""
    for run in runs.list_runs(tool_name, status="RUNNING"):
        if len(runs.metric_history(run.id, "val_loss")) >= epochs:
            return run
    return None


@pytest.mark.timeout(600)
def test_a_sigkilled_headless_job_is_running_then_closed_as_killed(home, tmp_path):
    config = train.run_config(
        "cnn",
        name="killed",
        data={"source": "digits"},
        model=MODEL,
        train=trainer.TrainConfig(epochs=500, patience=0),
    )
    path = tmp_path / "killed.json"
    path.write_text(json.dumps(config))
    cmd = [sys.executable, "-m", "core.train", "cnn", "--config", str(path)]
    pid, run = sigkilled_while_running(cmd, home, "cnn", 2)
    assert run.tags[owner.OWNER_PID] == str(pid)
    assert run.tags[owner.OWNER_HOST] == owner.host() and owner.HEARTBEAT in run.tags
    before = runs.metric_history(run.id, "val_loss")
    assert runs.get_run(run.id).summary.status == "RUNNING"  # what the old code left forever

    assert runs.sweep() == [run.id]
    closed = runs.get_run(run.id)
    assert closed.summary.status == "KILLED"
    assert "ended with its process at" in closed.summary.tags[runs.NOTE]
    assert runs.metric_history(run.id, "val_loss") == before  # its epochs are kept
    assert runs.sweep() == []


def test_an_in_app_job_is_in_the_store_while_it_trains(home, monkeypatch):
    monkeypatch.setattr(live, "FLUSH_S", 0.0)
    request = tool.Request(
        data=DIGITS, model=MODEL, train=trainer.TrainConfig(epochs=500, patience=0)
    )
    job = jobs.Job(target=tool.train_job(request), name="train cnn", tool="cnn").start()
    try:
        run = wait_for(lambda: running_with_epochs("cnn", 2), timeout=120)
        assert run.tags[runs.JOB_ID] == job.id
        assert run.tags[owner.OWNER_PID] == str(os.getpid())
        assert runs.sweep() == []  # its owner, this process, is alive
    finally:
        job.stop()
    assert job.wait(60) and job.result.recorded.wait(120)
    assert job.result.recording.run_id == run.id  # the same run, ended with the whole record
    detail = runs.get_run(run.id)
    assert detail.summary.status == "KILLED" and "test_accuracy" in detail.metrics
    steps = [s for s, _ in detail.history["val_loss"]]
    assert steps == sorted(set(steps))  # every epoch once: the live ones are not logged again
    assert len(steps) == len(job.result.result.history)


def test_a_run_whose_app_process_died_is_closed_with_its_metrics(home):
    gone = runs.start(
        "gpt2", name="own text", params={"steps": 500}, tags={owner.OWNER_PID: str(dead_pid())}
    )
    gone.log(1, train_loss=3.5)
    gone.log(2, train_loss=3.1)
    mine = runs.start("gpt2", name="still training", params={"steps": 500})
    assert runs.sweep() == [gone.id]
    detail = runs.get_run(gone.id)
    assert detail.summary.status == "KILLED" and detail.summary.end is not None
    assert detail.summary.tags[runs.NOTE].startswith("This run ended with its process at ")
    assert detail.history["train_loss"] == [(1, 3.5), (2, 3.1)]
    assert runs.get_run(mine.id).summary.status == "RUNNING"
    mine.finish("FINISHED")


def test_a_reused_pid_is_not_the_owner(home):
    run = runs.start("gpt2", name="old", tags={owner.OWNER_STARTED: f"{time.time() - 9e5:.3f}"})
    assert runs.sweep() == [run.id]  # this pid, but a process started long after the run's


def test_a_run_of_another_host_waits_for_its_heartbeat(home):
    beat = time.time() - 60
    other = {owner.OWNER_HOST: "elsewhere", owner.OWNER_PID: "1", owner.HEARTBEAT: f"{beat:.3f}"}
    run = runs.start("cnn", name="on a team-mate's machine", tags=other)
    assert runs.sweep() == []
    assert runs.sweep(now=beat + live.STALE_AFTER_S - 1) == []
    assert runs.get_run(run.id).summary.status == "RUNNING"
    assert runs.sweep(now=beat + live.STALE_AFTER_S + 1) == [run.id]
    assert runs.get_run(run.id).summary.status == "KILLED"


def test_a_heartbeat_keeps_a_live_run_fresh(home):
    run = runs.start("cnn", name="beating", tags={owner.HEARTBEAT: "1.0"})
    run.keep_alive(every_s=0.1)
    wait_for(lambda: float(runs.get_run(run.id).summary.tags[owner.HEARTBEAT]) > 1.0, 30, 0.1)
    run.finish("FINISHED")


def test_a_reopened_cnn_run_shows_its_wall_time(home):
    request = tool.Request(data=DIGITS, model=MODEL, train=trainer.TrainConfig(epochs=2))
    job = jobs.Job(target=tool.train_job(request), name="train cnn", tool="cnn").start()
    assert job.wait(120) and job.result.recorded.wait(120) and job.result.recording.ok
    waited = job.result.waited_s
    again = tool.outcome_of(tool.load_run(job.result.recording.run_id), DIGITS)
    assert again.waited_s == pytest.approx(waited)
    shown = {m.label: m.value for m in tool.page_metrics(again, "cpu")}
    assert shown["Wall time"] == f"{waited:.1f} s" != "0.0 s"


def test_the_link_of_a_job_the_server_no_longer_knows_says_so_and_links_its_run(home):
    from streamlit.testing.v1 import AppTest

    from tests.helpers import APP

    run = runs.start("cnn", name="lost with the server", tags={runs.JOB_ID: "deadbeef0001"})
    run.log(1, val_loss=1.0)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.query_params["cnn_job"] = "deadbeef0001"
    at.switch_page("pages/train_cnn.py").run()
    assert not at.exception
    assert any(i.value.startswith("This job ended with the server (restart at ") for i in at.info)
    links = [link.proto for link in at.get("page_link")]
    assert any(link.query_string == f"run={run.id}" for link in links)
    run.finish("KILLED")


READ_ONLY_SCRIPT = """
import json, os
from streamlit.testing.v1 import AppTest
from tests.helpers import APP
at = AppTest.from_file(APP, default_timeout=120)
at.run()
at.switch_page("pages/runs.py").run()
print(json.dumps({"warnings": [w.value for w in at.warning], "errors": [e.value for e in at.error],
                  "rows": len(at.dataframe[0].value) if at.dataframe else 0}))
"""


@pytest.mark.timeout(300)
def test_a_read_only_store_still_lists_its_runs(home):
    import shutil

    runs.record("business", runs.RunRecord(name="a case", params={"users": 5}))
    runs.record("business", runs.RunRecord(name="another", params={"users": 7}))
    runs.reset()
    for path in [home, *home.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    cmd = [sys.executable, "-c", READ_ONLY_SCRIPT]
    if os.geteuid() == 0:  # root ignores chmod: drop the capabilities that let it
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv cannot be denied a write")
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    env = child_env(home, DASHBOARD_WARM="0")
    try:
        out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    finally:
        for path in [home, *home.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
    assert out.returncode == 0, out.stderr[-2000:]
    page = json.loads(out.stdout.strip().splitlines()[-1])
    assert page["rows"] == 2 and not page["errors"], page
    assert any("new runs cannot be recorded" in w for w in page["warnings"]), page


EXIT_SCRIPT = """
import atexit
from ui.runs import listing
atexit.register(lambda: print("opened at exit:", listing.OPENED.is_set()))  # runs last
listing.store_opener()  # MLflow's import starts in its thread; the process quits at once
"""


@pytest.mark.timeout(120)
def test_a_process_quitting_while_the_store_opens_lets_it_finish(home):
    """A daemon thread torn down inside MLflow's import aborts the process ("FATAL:
    exception not rethrown", exit -6): the opener is joined at exit instead."""
    env = child_env(home, DASHBOARD_WARM="0")
    out = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "opened at exit: True", out.stdout


@pytest.mark.timeout(300)
def test_a_headless_batch_larger_than_the_data_is_warned_about(home, tmp_path, capsys):
    import torch

    config = train.run_config(
        "cnn",
        name="big-batch",
        data={"source": "digits"},
        model=MODEL,
        train=trainer.TrainConfig(epochs=1, batch_size=4096, patience=0),
    )
    path = tmp_path / "big.json"
    path.write_text(json.dumps(config))
    threads = torch.get_num_threads()
    try:
        assert train.main(["cnn", "--config", str(path)]) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr()
    assert "Warning: Batch size 4096 is larger than the training set (1,259 images)" in out.err
    run_id = json.loads(out.out.strip().splitlines()[-1])["run_id"]
    tags = runs.get_run(run_id).summary.tags
    assert tags["warning"].startswith("Batch size 4096 is larger than the training set")
    assert runs.get_run(run_id).metrics["wait_seconds"] > 0  # a reopened run shows its time


IN_APP_SCRIPT = """
from core import jobs
from core.runs import live
from core.vision import data, model, tool, trainer
live.FLUSH_S = 0.0
request = tool.Request(
    data=data.load_digits("cpu"),
    model=model.CNNConfig(in_channels=1, num_classes=10, image_size=8, blocks=1, width=8),
    train=trainer.TrainConfig(epochs=500, patience=0),
)
jobs.submit(tool.train_job(request), "train cnn", tool="cnn").wait()
"""


@pytest.mark.timeout(600)
def test_an_in_app_job_whose_server_is_sigkilled_keeps_its_run(home):
    """The app's own job path (core.jobs + the CNN tool) in a process that is SIGKILLed,
    as a crashed Streamlit server is; the next start-up's sweep closes its run."""
    pid, run = sigkilled_while_running([sys.executable, "-c", IN_APP_SCRIPT], home, "cnn", 3)
    assert run.tags[owner.OWNER_PID] == str(pid) and run.tags.get(runs.JOB_ID)
    before = runs.metric_history(run.id, "val_accuracy")
    assert runs.try_sweep() == [run.id]
    detail = runs.get_run(run.id)
    assert detail.summary.status == "KILLED" and runs.NOTE in detail.summary.tags
    assert detail.history["val_accuracy"] == before and len(before) >= 3


GPT2_SCRIPT = """
from core import jobs
from core.runs import live
from core.text import tinygpt
live.FLUSH_S = 0.0
cfg = tinygpt.TinyGPTConfig(
    name="killed-gpt2", vocab_size=256, layers=1, width=32, heads=2, context=32,
    steps=100_000, batch_size=4, sample_every=5,
)
text = tinygpt.builtin_corpus()[:40_000]
job = lambda progress: tinygpt.train_and_record(text, cfg, "cpu", progress)
jobs.submit(job, "train gpt2", tool="gpt2").wait()
"""


@pytest.mark.timeout(600)
def test_an_in_app_gpt2_training_whose_server_is_sigkilled_keeps_its_run(home):
    """The own-GPT-2 training (Chat -> Train your own GPT-2's job) in a process that is
    SIGKILLed: its run is in the store RUNNING with its steps, then KILLED with them."""
    pid, run = sigkilled_while_running([sys.executable, "-c", GPT2_SCRIPT], home, "gpt2", 2)
    assert run.tags[owner.OWNER_PID] == str(pid) and run.tags.get(runs.JOB_ID)
    before = runs.metric_history(run.id, "val_loss")
    assert runs.try_sweep() == [run.id]
    detail = runs.get_run(run.id)
    assert detail.summary.status == "KILLED" and runs.NOTE in detail.summary.tags
    assert detail.history["val_loss"] == before and len(before) >= 2
