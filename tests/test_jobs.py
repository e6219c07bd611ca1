"""core.jobs: progress and metrics reach the page, Stop keeps what was done, errors surface."""

import threading
import time

import pytest

from core import jobs


def test_progress_metrics_and_result():
    def work(ctx):
        for i in range(5):
            ctx.report((i + 1) / 5, f"step {i}")
            ctx.log(step=i, loss=1.0 / (i + 1))
        return "finished"

    job = jobs.Job(target=work).start()
    assert job.wait(10)
    assert job.status == "done" and job.result == "finished"
    assert job.progress == 1.0 and job.message == "step 4"
    assert [m["step"] for m in job.metrics()] == [0, 1, 2, 3, 4]
    assert job.eta is None and job.elapsed >= 0


def test_stop_takes_effect_at_the_next_check_and_keeps_the_partial_result():
    started = threading.Event()

    def work(ctx):
        done = []
        while not ctx.should_stop():
            done.append(len(done))
            started.set()
            time.sleep(0.001)
        return done

    job = jobs.Job(target=work).start()
    assert started.wait(5)
    assert job.running and job.status == "running"
    job.stop()
    assert job.wait(5)
    assert job.status == "stopped"
    assert len(job.result) >= 1  # what was done before Stop is kept


def test_a_failing_worker_reports_instead_of_hanging():
    def work(ctx):
        ctx.report(0.5, "half way")
        raise RuntimeError("CUDA out of memory")

    job = jobs.Job(target=work).start()
    assert job.wait(5)
    assert job.status == "failed"
    assert isinstance(job.error, RuntimeError) and str(job.error) == "CUDA out of memory"
    assert jobs.describe(job.error) == "RuntimeError: CUDA out of memory"
    assert "Traceback" in job.details and job.progress == 0.5


def test_eta_extrapolates_from_progress():
    gate = threading.Event()

    def work(ctx):
        ctx.report(0.25)
        gate.wait(5)

    job = jobs.Job(target=work).start()
    while job.progress < 0.25:
        time.sleep(0.001)
    time.sleep(0.05)
    eta = job.eta
    gate.set()
    job.wait(5)
    assert eta is not None and eta >= 3 * 0.05 * 0.9


def _gated(gate: threading.Event):
    """A worker that runs until `gate` is set or Stop is pressed."""

    def work(ctx):
        while not gate.is_set() and not ctx.should_stop():
            time.sleep(0.005)
        return "ran"

    return work


def test_queue_runs_one_job_per_cpu_slot_in_order_and_starts_the_next(monkeypatch):
    monkeypatch.setenv("DASHBOARD_SLOTS_CPU", "1")
    gate_a, gate_b = threading.Event(), threading.Event()
    a = jobs.submit(_gated(gate_a), "a", tool="t1", device="cpu")
    b = jobs.submit(_gated(gate_b), "b", tool="t2", device="cpu")
    c = jobs.submit(_gated(threading.Event()), "c", tool="t3", device="cpu")
    assert a.status == "running" and b.status == "queued" and c.status == "queued"
    assert (b.position, c.position) == (1, 2)
    assert jobs.get(b.id) is b and {j.id for j in jobs.active()} >= {a.id, b.id, c.id}
    c.stop()  # Cancel while queued: out of the queue, never started
    assert c.status == "stopped" and not c.active and b.position == 1
    gate_a.set()
    assert a.wait(5) and a.status == "done"
    assert b.wait(0.05) is False and b.status == "running"  # took the freed slot
    gate_b.set()
    assert b.wait(5) and b.result == "ran" and c.result is None and c.wait(1)


def test_lanes_are_independent_and_slots_are_configurable(monkeypatch):
    monkeypatch.setenv("DASHBOARD_SLOTS_CPU", "2")
    gate = threading.Event()
    cpu = [jobs.submit(_gated(gate), f"j{i}", tool=f"x{i}", device="cpu") for i in range(2)]
    net = jobs.submit(_gated(gate), "download", tool="x9", device="network")
    assert [j.status for j in cpu] == ["running", "running"] and net.status == "running"
    gate.set()
    assert all(j.wait(5) for j in [*cpu, net])
    monkeypatch.setenv("DASHBOARD_SLOTS_CPU", "zero")
    assert jobs.slots("cpu") == jobs.DEFAULT_SLOTS["cpu"]  # a bad value falls back


def test_one_job_per_tool_per_owner():
    gate = threading.Event()
    first = jobs.submit(_gated(gate), "train cnn", tool="cnn", owner="alice")
    with pytest.raises(jobs.JobRefused, match="one job per tool"):
        jobs.submit(_gated(gate), "train cnn", tool="cnn", owner="alice")
    other = jobs.submit(_gated(gate), "train cnn", tool="cnn", owner="bob")  # another session
    gate.set()
    assert first.wait(5) and other.wait(5)
    again = jobs.submit(_gated(gate), "train cnn", tool="cnn", owner="alice")  # after it ended
    assert again.wait(5) and again.status == "done"


def test_a_job_past_its_time_limit_is_stopped_with_a_message_and_keeps_its_result():
    job = jobs.submit(_gated(threading.Event()), "slow", tool="slow", time_limit_s=0.2)
    assert job.wait(5)
    assert job.status == "stopped" and job.result == "ran"
    assert "time limit" in job.stop_reason


def test_a_job_outlives_whoever_started_it_and_is_found_by_id():
    done = threading.Event()

    def work(ctx):
        ctx.report(0.5, "half", rate=120.0, unit="images")
        done.wait(5)
        return 42

    job_id = jobs.submit(work, "orphan", tool="orphan").id  # nothing keeps the Job object
    job = jobs.get(job_id)
    while job.progress < 0.5:
        time.sleep(0.001)
    assert job.rate == (120.0, "images")
    done.set()
    assert jobs.get(job_id).wait(5) and jobs.get(job_id).result == 42


def test_describe_keeps_user_errors_plain_and_names_unexpected_ones():
    assert jobs.describe(ValueError("Learning rate must be positive.")) == (
        "Learning rate must be positive."
    )
    assert jobs.describe(KeyError("x")) == "KeyError: 'x'"


def test_a_job_is_active_from_the_moment_it_starts(monkeypatch):
    """Between start() and the thread's first step the job is running, never 'ended'."""
    job = jobs.Job(target=lambda ctx: None)
    seen = []
    original = threading.Thread.start

    def start(thread):
        seen.append((job.active, job.status))
        original(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    job.start()
    assert job.wait(5)
    assert seen[0] == (True, "running")


def test_a_job_not_kept_is_forgotten_when_it_ends_and_when_cancelled():
    gate = threading.Event()
    lane = jobs.reply_lane("cpu")
    first = jobs.submit(lambda ctx: gate.wait(10), "a", tool="chat", device=lane, keep=False)
    second = jobs.submit(lambda ctx: None, "b", tool="chat", device=lane, keep=False)
    assert jobs.get(first.id) is first and second.position == 1
    second.stop()  # cancelled while queued
    assert jobs.get(second.id) is None
    gate.set()
    assert first.wait(10)
    assert jobs.get(first.id) is None and not jobs.active("chat")


def test_a_job_started_during_a_fewer_threads_block_runs_on_the_process_count():
    """torch hands a new thread the last count set anywhere: a training job begun while a
    reply decoded on one thread (inside device.torch_threads) would have trained on one."""
    import torch

    from core import device as dev

    usual = dev.cpu_threads()
    if usual < 2:
        pytest.skip("one CPU thread: nothing fewer to inherit")
    seen = []
    with dev.torch_threads(1):  # a reply on one thread, in this thread
        probe = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        probe.start()
        probe.join()
        job = jobs.Job(target=lambda ctx: torch.get_num_threads(), name="train").start()
        job._thread.join(10)
    assert seen == [1]  # what a plain thread inherits (why jobs set their own)
    assert job.result == usual and dev.cpu_threads() == usual
