"""core.economics.catalog: the shipped tables carry the reference figures, edited rows are
validated (a bad row is refused with a message), CUDA device names find their row."""

import pytest

from core.economics import catalog, costs


def test_catalog_has_the_reference_figures():
    h100 = catalog.GPU_CATALOG["H100-SXM"]
    assert (h100.tflops, h100.memory_gb, h100.bandwidth_gbs, h100.power_w) == (989, 80, 3350, 700)
    assert catalog.GPU_CATALOG["A100-80GB"].tflops == 312  # dense, not the 624 with sparsity
    assert all(g.price_date and g.source for g in catalog.GPU_CATALOG.values())
    with pytest.raises(TypeError):
        catalog.GPU_CATALOG["H100-SXM"] = h100  # read-only


def test_edited_catalog_rows_are_validated():
    row = {"name": "X", "tflops": "abc", "memory_gb": 1, "bandwidth_gbs": 1, "power_w": 1}
    with pytest.raises(ValueError, match="tflops must be a number"):
        catalog.gpu_from_row({**row, "price_per_hour": 1})
    with pytest.raises(ValueError, match="price_per_hour"):
        catalog.gpu_from_row({**row, "tflops": 10, "price_per_hour": -2})


def test_edited_tables_keep_the_good_rows_and_say_why_the_others_went():
    good = {"name": "X1", "tflops": 10, "memory_gb": 8, "bandwidth_gbs": 100, "power_w": 50}
    gpus, problems = catalog.gpus_from_rows(
        [{**good, "price_per_hour": 1.0}, {**good, "name": "X2", "price_per_hour": "free"}]
    )
    assert list(gpus) == ["X1"] and gpus["X1"].price_per_hour == 1.0
    assert problems == ["'X2': price_per_hour must be a number, got 'free'."]
    apis, problems = catalog.apis_from_rows(
        [
            {"name": "A", "input_per_m": 1, "output_per_m": 2},
            {"name": "B", "input_per_m": -1, "output_per_m": 2},
        ]
    )
    assert apis == [catalog.ApiPrice("A", 1.0, 2.0)]
    assert problems == ["B input price cannot be negative, got -1.0."]


def test_cuda_device_names_find_their_catalog_row():
    assert all(row in catalog.GPU_CATALOG for _, row in catalog.CUDA_NAMES)
    assert catalog.gpu_for_device("NVIDIA A100-SXM4-80GB") == "A100-80GB"
    assert catalog.gpu_for_device("NVIDIA A100-SXM4-40GB") == "A100-40GB"
    assert catalog.gpu_for_device("NVIDIA GeForce GTX 1080") is None
    rate, what = costs.hardware_rate("cuda", "NVIDIA H100 80GB HBM3", 8)
    assert rate == catalog.GPU_CATALOG["H100-SXM"].price_per_hour
    assert what.startswith("H100-SXM at 3.00 USD/h")
    assert costs.hardware_rate("cuda", "NVIDIA GeForce GTX 1080", 8)[0] == 0.0


def test_published_runs_and_model_presets_load_in_base_units():
    runs = {r.model: r for r in catalog.published_runs()}
    assert runs["Chinchilla 70B"].params == pytest.approx(70e9)
    assert runs["GPT-3 175B"].reported_gpu_hours is None and runs["GPT-3 175B"].reported_flops
    shape = catalog.model_presets()["8B class (Llama 3 8B)"]
    assert shape.params == pytest.approx(8.03e9)
    assert (shape.layers, shape.kv_heads, shape.head_dim, shape.context) == (32, 8, 128, 8192)
