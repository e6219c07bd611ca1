"""core.train: the pages' trainers as headless jobs, alone and under torchrun (CPU, gloo),
recorded in a real MLflow store under a temporary $DASHBOARD_HOME; checkpoints and restarts;
bad input; run.json from the pages' settings; the Run-elsewhere panel (ui/cluster.py). Runs
are tiny (digits, a small CNN, a few epochs), every process on one thread."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core import runs, train
from core.train.checkpoints import CRASH_ENV
from core.train.recorder import Recorder, Terminated
from core.vision import data, inspect, tool
from core.vision.model import CNNConfig
from core.vision.trainer import TrainConfig, train_classifier

ROOT = Path(__file__).resolve().parents[1]
MODEL = CNNConfig(num_classes=10, image_size=8, blocks=2, width=16)
TRAIN = TrainConfig(epochs=4, patience=0, seed=0)
ONE_POINT = 0.01  # test accuracy: 2 ranks against 1 process
LAUNCH_TIMEOUT_S = 420  # a torchrun job on this shared 2-core machine, imports included
SLOW = pytest.mark.timeout(900)  # torchrun jobs: minutes of imports when six agents share 2 cores


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh $DASHBOARD_HOME with the embedded store in it."""
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    runs.reset()
    yield tmp_path / "home"
    runs.reset()


@pytest.fixture(scope="module")
def page_accuracy() -> float:
    """Test accuracy of the page's path: train_classifier + evaluate, in this process."""
    ds = data.load_digits("cpu")
    splits = data.split(ds.y, TRAIN.seed)
    result = train_classifier(ds, splits, MODEL, TRAIN)
    return inspect.evaluate(result.model, ds, splits[2]).accuracy


def write_config(folder: Path, name: str, **overrides) -> Path:
    """run.json for the page's settings MODEL / TRAIN, as the Run-elsewhere panel writes it."""
    raw = train.run_config(
        "cnn", name=name, data={"source": "digits"}, model=MODEL, train=TRAIN, seed=TRAIN.seed
    )
    raw |= overrides
    path = folder / f"{name}.json"
    path.write_text(json.dumps(raw))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args: list[str], home: Path, timeout: float = LAUNCH_TIMEOUT_S, **env):
    """Run a command from the repository root with the test's home and one thread a process."""
    full = os.environ | {"DASHBOARD_HOME": str(home), "OMP_NUM_THREADS": "1"} | env
    full.pop("MLFLOW_TRACKING_URI", None)
    full["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        args, cwd=ROOT, env=full, capture_output=True, text=True, timeout=timeout, check=False
    )


def run_in_process(config: Path, capsys) -> tuple[int, str]:
    """`python -m core.train cnn` in this process: its exit code and what it printed to
    stderr; torch's thread count (the command sets one per rank) is put back after."""
    threads = torch.get_num_threads()
    try:
        code = train.main(["cnn", "--config", str(config)])
    finally:
        torch.set_num_threads(threads)
    return code, capsys.readouterr().err


def torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", *args]


def summary_of(out: subprocess.CompletedProcess) -> dict:
    """The JSON line rank 0 prints last."""
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def epochs_logged(run_id: str) -> list[int]:
    """The steps of every val_loss point in the store, repeats kept."""
    return [step for step, _ in runs.metric_history(run_id, "val_loss")]


def any_epoch_logged(run_id: str) -> bool:
    """True once the store holds a val_loss point (one point is a metric, not a history)."""
    return "val_loss" in runs.get_run(run_id).metrics


def loaded_accuracy(run_id: str) -> float:
    """Test accuracy of the run's model loaded back as the Train page loads one (cnn)."""
    ds = data.load_digits("cpu")
    return tool.outcome_of(tool.load_run(run_id), ds).evaluation.accuracy


# ---- single process: the command reproduces the page ----------------------------------


@SLOW
def test_exported_run_json_reproduces_the_page_run(home, tmp_path, page_accuracy, capsys):
    config = write_config(tmp_path, "repro")
    assert train.main(["cnn", "--config", str(config)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["world_size"] == 1 and summary["effective_batch"] == TRAIN.batch_size
    assert summary["test_accuracy"] == pytest.approx(page_accuracy, abs=1e-9)
    detail = runs.get_run(summary["run_id"])
    assert detail.summary.status == "FINISHED"
    assert detail.params["world_size"] == "1"
    assert epochs_logged(summary["run_id"]) == [1, 2, 3, 4]
    assert loaded_accuracy(summary["run_id"]) == pytest.approx(page_accuracy, abs=1e-9)
    assert not (train.jobs_dir() / "repro" / train.CHECKPOINT).exists()  # finished: no resume


# ---- two ranks -----------------------------------------------------------------------


@SLOW
def test_two_ranks_match_one_process_and_are_recorded(home, tmp_path, page_accuracy):
    config = write_config(tmp_path, "ddp")
    out = launch(
        torchrun("--nproc-per-node", "2", "-m", "core.train", "cnn", "--config", str(config)), home
    )
    summary = summary_of(out)
    assert summary["world_size"] == 2
    assert summary["per_rank_batch"] == TRAIN.batch_size // 2
    assert summary["effective_batch"] == TRAIN.batch_size
    assert abs(summary["test_accuracy"] - page_accuracy) <= ONE_POINT, (summary, page_accuracy)
    detail = runs.get_run(summary["run_id"])
    assert detail.summary.status == "FINISHED"
    assert detail.params["world_size"] == "2"
    assert detail.params["backend"] == "gloo"
    assert detail.params["command"].startswith("torchrun ")
    assert "--nproc-per-node 2" in detail.params["command"]
    assert detail.summary.tags["launcher"] == "torchrun"
    assert epochs_logged(summary["run_id"]) == [1, 2, 3, 4]
    assert {"curves", "confusion"} <= set(detail.figures)
    assert loaded_accuracy(summary["run_id"]) == pytest.approx(summary["test_accuracy"])


@SLOW
def test_killed_worker_restarts_and_resumes_from_checkpoint(home, tmp_path, page_accuracy):
    config = write_config(tmp_path, "fault")
    marker = tmp_path / "rank1-died"
    out = launch(
        torchrun(
            "--nproc-per-node",
            "2",
            "--max-restarts",
            "1",
            "-m",
            "core.train",
            "cnn",
            "--config",
            str(config),
        ),  # fmt: skip
        home,
        **{CRASH_ENV: f"1:2:{marker}"},  # rank 1 dies once, after epoch 2
    )
    summary = summary_of(out)
    assert marker.exists(), "the worker was never killed"
    assert summary["resumed_from_epoch"] == 2
    # every epoch logged once: epochs 1-2 before the crash, 3-4 after it, none repeated
    assert epochs_logged(summary["run_id"]) == [1, 2, 3, 4]
    detail = runs.get_run(summary["run_id"])
    assert detail.summary.status == "FINISHED"
    assert detail.summary.tags["restarts"] == "1"
    assert detail.summary.tags["resumed_from_epoch"] == "2"
    assert [e.epoch for e in tool.load_run(summary["run_id"]).history] == [1, 2, 3, 4]
    assert abs(summary["test_accuracy"] - page_accuracy) <= ONE_POINT, (summary, page_accuracy)
    assert len(runs.list_runs("cnn")) == 1  # the restart went on with the same run


@SLOW
def test_gpt2_on_two_ranks_is_saved_and_loads(home, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    raw = {
        "kind": "gpt2",
        "name": "tiny-ddp",
        "data": {"source": "builtin-text"},
        "model": {"vocab_size": 300, "layers": 1, "width": 32, "heads": 2, "context": 32},
        "train": {"steps": 4, "batch_size": 4, "sample_every": 2},
    }
    config = tmp_path / "gpt2.json"
    config.write_text(json.dumps(raw))
    out = launch(
        torchrun("--nproc-per-node", "2", "-m", "core.train", "gpt2", "--config", str(config)), home
    )
    summary = summary_of(out)
    assert summary["world_size"] == 2 and summary["effective_batch"] == 4
    folder = Path(summary["model_folder"])
    assert folder == home / "models" / "tiny-ddp"
    model = AutoModelForCausalLM.from_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    ids = tok("The data set", return_tensors="pt")["input_ids"]
    new = model.generate(ids, max_new_tokens=3, do_sample=False, pad_token_id=tok.eos_token_id)
    assert new.shape[1] == ids.shape[1] + 3
    detail = runs.get_run(summary["run_id"])
    assert detail.params["world_size"] == "2"
    assert any(
        a.path.startswith("model/") and a.path.endswith(".safetensors") for a in detail.artifacts
    )
    assert [s for s, _ in detail.history["train_loss"]] == [1, 2, 4]


# ---- bad input: a clear message and a non-zero exit ---------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": {"blocks": 9}}, "Blocks must be 1-5"),
        (
            {"train": {"epochs": 2, "learning_rate": 0.1}},
            'Unknown field(s) in "train": learning_rate',
        ),
        (
            {"data": {"source": "zip", "path": "/nowhere/cats.zip"}},
            "does not exist on this machine",
        ),
        ({"data": {"source": "imagenet"}}, "Unknown data source 'imagenet'"),
        ({"kind": "gpt2"}, "does not fit a gpt2 run"),
    ],
)
def test_bad_config_exits_2_with_a_message(home, tmp_path, capsys, change, message):
    config = tmp_path / "bad.json"
    raw = {"kind": "cnn", "name": "bad", "data": {"source": "digits"}} | change
    config.write_text(json.dumps(raw))
    code = train.main([raw["kind"], "--config", str(config)])
    err = capsys.readouterr().err
    assert code == train.EXIT_CONFIG
    assert message in err and "Traceback" not in err


def test_not_json_exits_2(home, tmp_path, capsys):
    config = tmp_path / "bad.json"
    config.write_text("{kind: cnn")
    assert train.main(["cnn", "--config", str(config)]) == train.EXIT_CONFIG
    assert "not readable JSON" in capsys.readouterr().err


def test_world_larger_than_the_data_exits_2(home, tmp_path, capsys, monkeypatch):
    from PIL import Image

    for cls in ("a", "b"):  # 2 classes x 5 images: 6 training images after the split
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(5):
            Image.new("L", (8, 8), 40 * i).save(tmp_path / "imgs" / cls / f"{i}.png")
    config = tmp_path / "few.json"
    raw = {
        "kind": "cnn",
        "name": "few",
        "data": {"source": "folder", "path": str(tmp_path / "imgs"), "image_size": 8},
    }
    config.write_text(json.dumps(raw))
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    code, err = run_in_process(config, capsys)
    assert code == train.EXIT_CONFIG
    assert "world size (8 processes) is larger than the data (6 training images)" in err


def test_group_that_never_forms_exits_3_within_the_timeout(home, tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path, "alone")
    port = free_port()
    env = {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1"}
    env |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "DASHBOARD_DIST_TIMEOUT_S": "3"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code, err = run_in_process(config, capsys)
    assert code == train.EXIT_DISTRIBUTED
    assert "could not reach the others within 3 s" in err


def test_rendezvous_that_never_forms_ends_torchrun_non_zero(home, tmp_path):
    config = write_config(tmp_path, "nodes")
    endpoint = f"127.0.0.1:{free_port()}"
    out = launch(
        torchrun(
            "--nnodes",
            "2",
            "--nproc-per-node",
            "1",
            "--rdzv-backend",
            "c10d",
            "--rdzv-endpoint",
            endpoint,
            "--rdzv-conf",
            "join_timeout=5",
            "-m",
            "core.train",
            "cnn",
            "--config",
            str(config),
        ),  # fmt: skip
        home,
        timeout=180,
    )
    assert out.returncode != 0
    assert "RendezvousTimeoutError" in out.stderr or "timed out" in out.stderr.lower()


# ---- the Run-elsewhere panel ------------------------------------------------------------


def _panel_script() -> None:
    from core import train
    from core.vision.model import CNNConfig
    from core.vision.trainer import TrainConfig
    from ui import cluster

    model = CNNConfig(num_classes=10, image_size=8, blocks=2, width=16)
    settings = TrainConfig(epochs=200, patience=0)
    config = train.run_config(
        "cnn", name="panel", data={"source": "digits"}, model=model, train=settings
    )
    cluster.run_elsewhere_ui("cnn", config, key="el")


@SLOW
def test_panel_commands_and_a_local_check_that_stop_ends(home):
    import time

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_panel_script, default_timeout=60).run()
    codes = [c.value for c in at.code]
    assert (
        "torchrun --nproc-per-node 8 --max-restarts 3 -m core.train cnn --config run.json" in codes
    )
    multi = next(c for c in codes if "--nnodes 2" in c)
    assert "--rdzv-backend c10d --rdzv-endpoint node0.example:29400" in multi
    assert "join_timeout=300" in multi
    at.button(key="el_start").click().run()
    job = train.local_job("panel")
    assert job is not None and job.running
    deadline = time.monotonic() + LAUNCH_TIMEOUT_S
    while job.run_id() is None or not any_epoch_logged(job.run_id()):
        assert job.running, job.log_tail()
        assert time.monotonic() < deadline, job.log_tail()
        time.sleep(2)
    at.run()
    assert any("recorded in run" in p.text for p in at.get("progress")), at.get("progress")
    at.button(key="el_stop").click().run()
    assert job.returncode not in (None, 0)
    with pytest.raises(ProcessLookupError):  # the whole process group is gone
        os.killpg(job.process.pid, 0)
    assert runs.get_run(job.run_id()).summary.status == "KILLED", job.log_tail()


def test_run_configs_from_the_pages_settings():
    from core.text import tinygpt
    from core.train.kinds.cnn import cnn_configs
    from core.train.kinds.gpt2 import gpt2_config

    ds = data.load_digits("cpu")
    raw = train.cnn_run_config(ds, MODEL, TRAIN)
    spec = train.spec_from_dict(raw)
    assert raw["data"] == {"source": "digits", "path": "", "image_size": 32}
    assert cnn_configs(spec, ds) == (MODEL, TRAIN)
    upload = data.ImageTensors(name="my cats!", x=ds.x, y=ds.y, classes=ds.classes)
    assert train.cnn_run_config(upload, MODEL, TRAIN)["data"]["source"] == "zip"
    assert train.cnn_run_config(upload, MODEL, TRAIN)["name"] == "my-cats-cnn"
    gpt = tinygpt.TinyGPTConfig(name="mine", steps=7, seed=3)
    raw = train.gpt2_run_config(gpt, "/data/book.txt")
    assert raw["data"]["path"] == "/data/book.txt" and raw["seed"] == 3
    assert gpt2_config(train.spec_from_dict(raw)) == gpt


def test_a_stop_that_lands_inside_a_store_write_still_records_killed():
    finished = []

    class Live:
        id, finished = "r1", False

        def log(self, step, **metrics):
            raise runs.StoreError("Could not record a step: ")  # SIGTERM inside sqlite

        def finish(self, status, **results):
            finished.append(status)

    recorder = Recorder()
    recorder.live = Live()
    recorder.stopped = True  # as the command's SIGTERM handler leaves it
    with pytest.raises(Terminated):
        recorder.log(1, loss=0.5)
    assert recorder.error == ""
    recorder.finish("KILLED")
    assert finished == ["KILLED"]
    recorder.stopped = False  # without a stop: reported, job goes on
    recorder.log(2, loss=0.4)
    assert recorder.error.startswith("Could not record")
