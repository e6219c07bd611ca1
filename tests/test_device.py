"""core.device: device choice with availability mocked, dtype, autocast, memory report."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core import device as dev

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def machine(monkeypatch):
    """Pretend torch sees the given device kinds: machine(cuda=True, mps=False)."""

    def make(cuda: bool = False, mps: bool = False, bf16: bool = True) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
        monkeypatch.delenv(dev.ENV_VAR, raising=False)

    return make


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_picks_best_available(machine, cuda, mps, expected):
    machine(cuda=cuda, mps=mps)
    assert dev.choose_device() == expected
    assert dev.choose_device("auto") == expected
    assert dev.available_kinds()[-1] == "cpu"


def test_explicit_choice_overrides_best(machine):
    machine(cuda=True, mps=False)
    assert dev.choose_device("cpu") == "cpu"
    assert dev.choose_device(" CUDA ") == "cuda"


def test_environment_variable_overrides_auto(machine, monkeypatch):
    machine(cuda=True)
    monkeypatch.setenv(dev.ENV_VAR, "cpu")
    assert dev.choose_device() == "cpu"
    # An explicit choice (the sidebar's) wins over the environment.
    assert dev.choose_device("cuda") == "cuda"


def test_unavailable_device_is_refused_with_a_clear_message(machine):
    machine(cuda=False, mps=False)
    with pytest.raises(ValueError, match=r"CUDA was requested .*available: cpu"):
        dev.choose_device("cuda")


@pytest.mark.parametrize("bad", ["gpu", "tpu", "cuda:7"])
def test_unknown_names_are_refused(machine, monkeypatch, bad):
    machine()
    with pytest.raises(ValueError, match="choose one of auto, cuda, mps, cpu"):
        dev.choose_device(bad)
    monkeypatch.setenv(dev.ENV_VAR, bad)
    with pytest.raises(ValueError, match=dev.ENV_VAR):
        dev.choose_device()


def test_dtype_follows_the_device(machine):
    machine(cuda=True, bf16=True)
    assert dev.preferred_dtype("cuda") == torch.bfloat16
    machine(cuda=True, bf16=False)  # e.g. a T4
    assert dev.preferred_dtype("cuda") == torch.float16
    assert dev.preferred_dtype("mps") == torch.float16
    assert dev.preferred_dtype("cpu") == torch.float32


def test_autocast_is_off_on_cpu_fp32():
    a = torch.randn(4, 4)
    with dev.autocast("cpu"):
        assert not torch.is_autocast_enabled("cpu")
        assert (a @ a).dtype == torch.float32


def test_cpu_memory_report_is_this_process():
    before = dev.memory_report("cpu")
    hog = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
    after = dev.memory_report("cpu")
    assert 0 < before.used < before.total
    assert after.used - before.used >= 48 * 2**20
    assert after.label.endswith("GiB") and " / " in after.label
    del hog


def test_gpu_report_falls_back_to_cpu_without_a_gpu(monkeypatch):
    monkeypatch.setattr(dev, "_nvidia_smi", lambda fields: None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dev.memory_report("cuda").device == "cpu"


def test_nvidia_smi_reading(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_nvidia_smi", lambda fields: ["1024", "81559"])
    report = dev.memory_report("cuda")
    assert (report.device, report.used, report.total) == ("cuda", 2**30, 81559 * 2**20)
    assert report.label == "1.0 / 79.6 GiB"


def test_probe_finds_a_gpu_through_nvidia_smi(monkeypatch):
    dev.probe_hardware.cache_clear()
    monkeypatch.setattr(dev, "_nvidia_smi", lambda fields: ["NVIDIA H100 80GB HBM3"])
    monkeypatch.setattr(dev, "_is_apple_silicon", lambda: False)
    try:
        hw = dev.probe_hardware()
        assert hw.kinds == ("cuda", "cpu")
        assert hw.gpu_name == "NVIDIA H100 80GB HBM3"
    finally:
        dev.probe_hardware.cache_clear()


def test_probe_and_memory_report_do_not_import_torch():
    code = (
        "import sys; from core import device as d; hw = d.probe_hardware(); "
        "d.memory_report(hw.kinds[0]); d.cpu_threads(); "
        "assert 'torch' not in sys.modules, 'torch was imported'; print(hw.kinds)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "cpu" in out.stdout
