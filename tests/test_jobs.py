"""core.jobs: progress and metrics reach the page, Stop keeps what was done, errors surface."""

import threading
import time

from core import jobs


def test_progress_metrics_and_result():
    def work(ctx):
        for i in range(5):
            ctx.report((i + 1) / 5, f"step {i}")
            ctx.log(step=i, loss=1.0 / (i + 1))
        return "finished"

    job = jobs.Job(work).start()
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

    job = jobs.Job(work).start()
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

    job = jobs.Job(work).start()
    assert job.wait(5)
    assert job.status == "failed"
    assert job.error == "RuntimeError: CUDA out of memory"
    assert "Traceback" in job.details and job.progress == 0.5


def test_eta_extrapolates_from_progress():
    gate = threading.Event()

    def work(ctx):
        ctx.report(0.25)
        gate.wait(5)

    job = jobs.Job(work).start()
    while job.progress < 0.25:
        time.sleep(0.001)
    time.sleep(0.05)
    eta = job.eta
    gate.set()
    job.wait(5)
    assert eta is not None and eta >= 3 * 0.05 * 0.9
