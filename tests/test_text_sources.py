"""core.text.sources and loading's refusals: what is a model folder or a hub id, what a
missing model says, and the hub download's progress (the hub client faked)."""

import pytest

from core import jobs
from core.text import loading, sources
from tests import text_fixtures

tiny_dir = text_fixtures.tiny_dir  # a pytest fixture


def test_missing_models_say_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setattr(sources, "hub_reachable", lambda *a, **k: False)
    with pytest.raises(sources.ModelLoadError, match="no network and no cached copy"):
        loading.load_model("someone/not-cached-model", "cpu")
    with pytest.raises(sources.ModelLoadError, match="Type a Hugging Face model id"):
        loading.load_model("  ", "cpu")
    (tmp_path / "broken").mkdir()
    with pytest.raises(sources.ModelLoadError, match="not a model folder"):
        loading.load_model(str(tmp_path / "broken"), "cpu")
    (tmp_path / "broken" / "config.json").write_text("{not json")
    with pytest.raises(sources.ModelLoadError, match="Cannot load"):
        loading.load_model(str(tmp_path / "broken"), "cpu")


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("/etc", "not a model folder"),
        ("https://huggingface.co/gpt2", "web address"),
        ("../models/x", "not a hub id"),
        ("org/../x", "not a hub id"),
        ("/no/such/folder", "not a hub id"),
    ],
)
def test_sources_that_are_neither_a_model_folder_nor_a_hub_id(source, why):
    with pytest.raises(sources.ModelLoadError, match=why):
        loading.load_model(source, "cpu")
    assert not sources.needs_download(source)


def test_hub_ids_and_model_folders_are_accepted(tiny_dir):
    assert sources.check_source("gpt2") == "gpt2"
    assert sources.check_source("openai-community/gpt2-medium") == "openai-community/gpt2-medium"
    assert sources.check_source(str(tiny_dir)) == tiny_dir


def test_hub_download_reports_bytes_and_skips_duplicate_weights(monkeypatch, tmp_path):
    import time
    from types import SimpleNamespace

    import huggingface_hub
    from huggingface_hub import constants

    monkeypatch.setattr(sources, "hub_reachable", lambda *a, **k: True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    files = {"config.json": 100, "model.safetensors": 2_000_000, "pytorch_model.bin": 2_000_000}
    siblings = [SimpleNamespace(rfilename=n, size=b) for n, b in files.items()]
    monkeypatch.setattr(
        huggingface_hub.HfApi,
        "model_info",
        lambda self, repo, files_metadata: SimpleNamespace(siblings=siblings),
    )
    asked = {}

    def fake_snapshot(repo_id, allow_patterns):  # writes the blobs the way the hub client does
        asked["patterns"] = allow_patterns
        blobs = tmp_path / "models--org--tiny" / "blobs"
        blobs.mkdir(parents=True)
        for name in ("config.json", "model.safetensors"):
            (blobs / name).write_bytes(b"x" * files[name])
            time.sleep(0.7)
        return str(tmp_path / "snapshot")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    job = jobs.Job(target=lambda progress: sources.download_model("org/tiny", progress)).start()
    assert job.wait(10) and job.status == "done", job.error
    assert job.result == str(tmp_path / "snapshot")
    assert "*.bin" not in asked["patterns"] and "*.safetensors" in asked["patterns"]
    assert job.progress == pytest.approx(1.0) and job.message == "2 of 2 MiB"


def test_a_file_is_not_a_missing_folder_and_its_folder_is_named(tiny_dir):
    for name in ("config.json", "model.safetensors"):
        with pytest.raises(sources.ModelLoadError, match="is a file, not a folder") as err:
            sources.check_source(str(tiny_dir / name))
        assert f"Its folder is {tiny_dir.resolve()} - a model folder" in str(err.value)
        assert "No folder" not in str(err.value)


def test_suggestions_name_chat_models_and_their_decode_bound_is_the_calculators():
    from core.economics import catalog, costs

    chatting = [s.hub_id for s in sources.SUGGESTIONS if s.chats]
    assert sources.SUGGESTED[0] == sources.DEFAULT == "gpt2"
    assert {"HuggingFaceTB/SmolLM2-135M-Instruct", "Qwen/Qwen2.5-0.5B-Instruct"} <= set(chatting)
    qwen = sources.suggestion("Qwen/Qwen2.5-0.5B-Instruct")
    row = catalog.gpu_for_device("NVIDIA H100 80GB HBM3")
    bound, how = sources.decode_bound(qwen, "cuda", "NVIDIA H100 80GB HBM3")
    assert bound == costs.decode_tokens_per_second_bound(qwen.parameters, 2, row)
    assert row in how and "bandwidth" in how
    cpu_bound, cpu_how = sources.decode_bound(qwen, "cpu")
    assert cpu_bound > 0 and "measured here" in cpu_how
    assert sources.memory_gb(qwen, 2) > qwen.parameters * 2 / 1e9
