"""core.cache: loaders run once per process, and the free-memory control empties what no
job or chat is using."""

import threading

import pytest
import torch

from core import cache, jobs
from core.vision import data


@pytest.fixture
def counted_loads(monkeypatch):
    """Count calls to the real digits loader behind the cache."""
    calls = []
    real = data.load_digits

    def counting(device):
        calls.append(device)
        return real(device)

    monkeypatch.setattr(data, "load_digits", counting)
    cache.free_cached_resources()
    yield calls
    cache.free_cached_resources()


def test_second_call_returns_the_same_object(counted_loads):
    first = cache.digits("cpu")
    second = cache.digits("cpu")
    assert second is first
    assert counted_loads == ["cpu"]
    assert first.x.shape == (1797, 1, 8, 8) and first.y.shape == (1797,)
    assert first.device == "cpu" and first.classes == tuple("0123456789")
    assert first.x.dtype == torch.uint8 and first.x.max() == 255
    assert first.floats().max() == 1.0


def test_resident_ledger_lists_what_is_loaded(counted_loads):
    assert cache.resident() == []
    loaded = cache.digits("cpu")
    assert cache.resident() == [cache.Resident(name="digits", device="cpu", nbytes=loaded.nbytes)]
    assert loaded.nbytes == 1797 * 64 * 1 + 1797 * 8  # uint8 pixels, int64 labels


def test_free_empties_the_cache(counted_loads):
    before = cache.digits("cpu")
    freed = cache.free_cached_resources()
    assert freed == cache.Freed(before.nbytes, [])
    assert cache.resident() == []
    after = cache.digits("cpu")
    assert after is not before
    assert counted_loads == ["cpu", "cpu"]
    assert torch.equal(after.x, before.x)


def test_free_empties_the_cuda_cache(monkeypatch):
    emptied = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: emptied.append("sync"))
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append("empty"))
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    cache.free_cached_resources()
    assert emptied == ["sync", "empty"]


def test_free_keeps_what_a_running_job_uses_and_frees_it_once_idle(counted_loads):
    data_in_use = cache.digits("cpu")
    gate = threading.Event()

    def train(ctx):
        gate.wait(10)
        return float(data_in_use.floats().mean())

    job = jobs.submit(train, "train cnn", tool="cnn", meta={"data": data_in_use})
    freed = cache.free_cached_resources()
    assert freed == cache.Freed(0, ["digits"])
    assert cache.digits("cpu") is data_in_use  # still cached: the job's data were not dropped
    gate.set()
    assert job.wait(10) and job.status == "done"
    assert cache.free_cached_resources() == cache.Freed(data_in_use.nbytes, [])
    assert cache.digits("cpu") is not data_in_use and counted_loads == ["cpu", "cpu"]


def test_free_keeps_a_model_while_it_is_generating():
    class Generating:
        lock = threading.Lock()

    model = Generating()
    assert not cache.in_use(model)
    with model.lock:
        assert cache.in_use(model)
