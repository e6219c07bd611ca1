"""core.economics.costs against hand-computed values, unit conversions, invalid inputs, the
break-even crossing, a measured speed standing in for the bound and the published-runs check."""

import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from core.economics import catalog, costs

ROOT = Path(__file__).resolve().parents[1]
LLAMA3_8B = catalog.model_presets()["8B class (Llama 3 8B)"]


def test_training_flops_is_6nd():
    assert costs.training_flops(7e9, 2e12) == pytest.approx(8.4e22)


def test_training_gpu_hours_by_hand():
    # 8.4e22 FLOPs / (312e12 FLOP/s x 0.4 x 3600 s/h) = 186,965.8 GPU-hours
    assert costs.training_gpu_hours(7e9, 2e12, "A100-80GB", 0.4) == pytest.approx(
        186_965.81, rel=1e-6
    )
    # H100 is 989 / 312 times faster on paper
    ratio = costs.training_gpu_hours(7e9, 2e12, "A100-80GB", 0.4) / costs.training_gpu_hours(
        7e9, 2e12, "H100-SXM", 0.4
    )
    assert ratio == pytest.approx(989 / 312)


def test_kv_cache_of_llama3_8b_at_8k_is_one_gib():
    # 2 x 32 layers x 8 kv heads x 128 dims x 8192 tokens x 2 bytes = 128 KiB per token
    assert costs.kv_cache_bytes(32, 8, 128, 8192, 1, 2) == 2**30
    assert costs.kv_cache_bytes(32, 8, 128, 8192, 4, 2) == 4 * 2**30


def test_decode_bound_is_bandwidth_over_weight_bytes():
    # 7e9 params x 2 bytes = 14 GB read per token; 3,350 GB/s / 14 GB = 239.3 tokens/s
    assert costs.decode_tokens_per_second_bound(7e9, 2, "H100-SXM") == pytest.approx(3350 / 14)
    assert costs.decode_tokens_per_second_bound(7e9, 0.5, "H100-SXM") == pytest.approx(
        4 * 3350 / 14
    )


def test_chinchilla_optimal_recovers_chinchilla():
    n, d = costs.chinchilla_optimal(5.76e23)  # Chinchilla's budget: 70B params, 1.4T tokens
    assert n == pytest.approx(69.28e9, rel=1e-3)
    assert d == pytest.approx(20 * n)
    assert costs.training_flops(n, d) == pytest.approx(5.76e23)


def test_chinchilla_loss_by_hand():
    # 1.69 + 406.4 / 70e9^0.34 + 410.7 / 1.4e12^0.28 = 1.69 + 0.0836 + 0.1633
    assert costs.chinchilla_loss(70e9, 1.4e12) == pytest.approx(1.937, abs=2e-3)
    assert costs.chinchilla_loss(1e12, 1e15) > costs.CHINCHILLA_E


def test_energy_and_co2_units():
    kwh = costs.energy_kwh(1000, 700, 1.2)  # 1,000 GPU-hours x 0.7 kW x PUE 1.2
    assert kwh == pytest.approx(840)
    assert costs.co2_kg(kwh, 400) == pytest.approx(336)  # 840 kWh x 400 g/kWh


def test_training_estimate_combines_the_pieces():
    est = costs.estimate_training(7e9, 2e12, "A100-80GB", 1024, 0.4, 1.8, pue=1.1, grid_g_per_kwh=0)
    assert est.gpu_hours == pytest.approx(186_965.81, rel=1e-6)
    assert est.wall_days == pytest.approx(186_965.81 / 1024 / 24, rel=1e-6)
    assert est.usd == pytest.approx(186_965.81 * 1.8, rel=1e-6)
    assert est.kwh == pytest.approx(186_965.81 * 0.4 * 1.1, rel=1e-6)
    assert est.co2_kg == 0


def test_training_memory_is_16_bytes_per_param_in_mixed_precision():
    mem = costs.training_memory(LLAMA3_8B, seq_len=2048, micro_batch=1)
    assert mem.states == pytest.approx(16 * LLAMA3_8B.params)
    fp32 = costs.training_memory(LLAMA3_8B, mixed_precision=False)
    assert fp32.states == pytest.approx(16 * LLAMA3_8B.params)
    assert fp32.weights == 2 * mem.weights
    ckpt = costs.training_memory(LLAMA3_8B, checkpointing=True)
    assert ckpt.activations == pytest.approx(mem.activations * 2 / 34)


def test_min_gpus_with_and_without_sharding():
    mem = costs.training_memory(LLAMA3_8B)  # ~128 GB of states: too much for one 80 GB GPU
    assert costs.min_gpus_to_fit(mem, "H100-SXM", sharded=False) is None
    n = costs.min_gpus_to_fit(mem, "H100-SXM", sharded=True)
    room = 80e9 * costs.USABLE_MEMORY
    assert mem.states / n + mem.activations <= room < mem.states / (n - 1) + mem.activations
    small = costs.training_memory(catalog.model_presets()["GPT-2 (124M)"])
    assert costs.min_gpus_to_fit(small, "T4", sharded=False) == 1


def test_serving_llama3_8b_on_h100():
    s = costs.estimate_serving(LLAMA3_8B, "bf16", 8192, 100_000, 500, 300, "H100-SXM", 3.0)
    assert s.weight_bytes == pytest.approx(8.03e9 * 2)
    assert s.kv_bytes_per_request == 2**30
    assert s.gpus_per_replica == 1
    # (80 GB x 0.9 - 16.06 GB) / 1 GiB = 52 requests at full context
    assert s.max_batch == 52
    assert s.tokens_per_s_batch1 == pytest.approx(3350e9 / (16.06e9 + 2**30))
    assert s.tokens_per_s_full > 10 * s.tokens_per_s_batch1
    assert s.monthly_usd == pytest.approx(s.gpus * 3.0 * 730)
    monthly_tokens = 100_000 * costs.DAYS_PER_MONTH * 800
    assert s.usd_per_m_tokens == pytest.approx(s.monthly_usd / monthly_tokens * 1e6)


def test_a_model_too_big_for_one_gpu_spans_several():
    llama70 = catalog.model_presets()["70B class (Llama 3 70B)"]
    s = costs.estimate_serving(llama70, "bf16", 8192, 1000, 500, 300, "H100-SXM", 3.0)
    assert s.gpus_per_replica == 2  # 141 GB of weights over 72 GB usable per GPU
    int4 = costs.estimate_serving(llama70, "int4", 8192, 1000, 500, 300, "H100-SXM", 3.0)
    assert int4.gpus_per_replica == 1


def test_measured_speed_sets_capacity():
    args = (LLAMA3_8B, "bf16", 4096, 1000, 0, 100, "H100-SXM", 3.0, 1.0)
    s = costs.estimate_serving(*args, measured_tokens_per_s=10.0)
    assert s.tokens_per_s_batch1 == s.tokens_per_s_full == 10.0
    assert s.capacity_requests_per_day == pytest.approx(86_400 * 10.0 / 100)
    with pytest.raises(ValueError, match="Measured tokens/s"):
        costs.estimate_serving(*args, measured_tokens_per_s=0.0)


def test_api_monthly_cost_by_hand():
    # 1,000 requests/day x 30.4 days x (500 x $0.15 + 300 x $0.60) / 1M
    assert costs.api_monthly_usd(1000, 500, 300, 0.15, 0.60) == pytest.approx(
        1000 * 30.4 * 255 / 1e6
    )


def fake_serving(capacity: float) -> costs.ServingEstimate:
    base = costs.estimate_serving(LLAMA3_8B, "bf16", 8192, 1000, 500, 300, "H100-SXM", 3.0)
    return replace(base, replicas=1, monthly_usd=2190.0, capacity_requests_per_day=capacity)


def test_break_even_is_where_the_api_line_meets_the_staircase():
    serving = fake_serving(capacity=10_000)
    per_request = 0.01  # USD
    v = costs.break_even_requests_per_day(serving, per_request)
    assert v == pytest.approx(2190 / (0.01 * 30.4))  # 7,203.9 requests/day

    def api(x):
        return costs.api_monthly_usd(x, 1000, 0, 10.0, 0)  # $0.01 a request

    assert api(v * 0.99) < costs.self_host_monthly_usd(v * 0.99, serving)
    assert api(v * 1.01) > costs.self_host_monthly_usd(v * 1.01, serving)
    # past one replica's capacity the staircase steps up, but stays under the API line
    assert api(25_000) > costs.self_host_monthly_usd(25_000, serving)


def test_no_break_even_when_the_api_is_always_cheaper():
    # one replica's full load billed by the API ($0.01 x 1,000 x 30.4 = $304) < $2,190
    assert costs.break_even_requests_per_day(fake_serving(capacity=1_000), 0.01) is None


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf, "7e9", None, True])
def test_invalid_numbers_are_refused(bad):
    with pytest.raises(ValueError, match="Parameters"):
        costs.training_flops(bad, 1e9)
    with pytest.raises(ValueError):
        costs.kv_cache_bytes(32, 8, 128, bad, 1, 2)
    with pytest.raises(ValueError):
        costs.chinchilla_optimal(bad)


@pytest.mark.parametrize("mfu", [0, -0.1, 1.01, math.nan, 50])
def test_mfu_outside_unit_interval_is_refused(mfu):
    with pytest.raises(ValueError, match="MFU"):
        costs.training_gpu_hours(7e9, 2e12, "H100-SXM", mfu)


def test_unknown_gpu_and_precision_are_refused():
    with pytest.raises(ValueError, match="Unknown GPU 'V100'.*H100-SXM"):
        costs.training_gpu_hours(7e9, 2e12, "V100", 0.4)
    with pytest.raises(ValueError, match="Unknown precision"):
        costs.estimate_serving(LLAMA3_8B, "fp8", 8192, 1, 1, 1, "H100-SXM", 3.0)
    with pytest.raises(ValueError, match="PUE"):
        costs.energy_kwh(10, 700, 0.9)


def test_runway_and_margin():
    r = costs.runway(
        cash=1_000_000,
        serving_monthly=20_000,
        training_usd=120_000,
        retrains_per_year=2,
        other_monthly=30_000,
        users=1_000,
        price_per_user=20,
    )
    assert r.monthly_costs == pytest.approx(20_000 + 20_000 + 30_000)
    assert r.net_burn == pytest.approx(70_000 - 20_000)
    assert r.runway_months == pytest.approx(1_000_000 / 50_000)
    assert r.cost_per_user == pytest.approx(40.0) and r.gross_margin == pytest.approx(-1.0)
    assert math.isinf(r.months_to_profit) and not r.default_alive


def test_runway_with_growth_and_serving_that_grows_with_users():
    kwargs = {
        "cash": 500_000,
        "serving_monthly": 10_000,
        "training_usd": 0,
        "retrains_per_year": 0,
        "other_monthly": 50_000,
        "users": 1_000,
        "price_per_user": 20,
    }
    fixed = costs.runway(**kwargs, monthly_growth=0.1)
    grows = costs.runway(**kwargs, monthly_growth=0.1, users_per_replica=1_000)
    assert 0 < fixed.months_to_profit < math.inf and fixed.default_alive
    assert grows.months_to_profit > fixed.months_to_profit  # more users, more replicas
    assert grows.cash_by_month[24] < fixed.cash_by_month[24]


def test_published_runs_are_checked_honestly():
    checks = {c.model: c for c in costs.check_published_runs(0.4)}
    # 6 N D matches the FLOPs the papers report to within 3 %
    assert abs(checks["GPT-3 175B"].error) < 0.01
    assert abs(checks["Chinchilla 70B"].error) < 0.03
    # Llama 2 ran at about 40 % MFU, so the default lands within 10 %
    for name in ("Llama 2 7B", "Llama 2 13B", "Llama 2 70B"):
        assert abs(checks[name].error) < 0.10, name
        assert 0.35 < checks[name].implied_mfu < 0.45
    # Implied MFU is what turns the estimate into the reported hours exactly
    c = checks["BLOOM 176B"]
    assert c.estimate_gpu_hours * 0.4 / c.implied_mfu == pytest.approx(c.reported_gpu_hours)


def test_economics_does_not_import_torch_pandas_or_mlflow():
    code = (
        "import sys, core.economics.costs, core.economics.case, core.economics.exports; "
        "print(sorted(m for m in ('torch','pandas','mlflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_a_compression_speeds_decode_by_its_measured_ratio_only_once():
    """A measured speed-up already holds what reading smaller weights gains: the weights'
    ratio frees memory (more requests at once) but does not speed decode a second time."""
    args = (LLAMA3_8B, "bf16", 4096, 100_000, 500, 300, "H100-SXM", 3.0)
    plain = costs.estimate_serving(*args)
    smaller = costs.estimate_serving(*args, memory_ratio=0.5)
    faster = costs.estimate_serving(*args, speedup=2.0, memory_ratio=0.5)
    assert smaller.tokens_per_s_batch1 == pytest.approx(plain.tokens_per_s_batch1)
    assert faster.tokens_per_s_batch1 == pytest.approx(2 * plain.tokens_per_s_batch1)
    assert smaller.weight_bytes == pytest.approx(plain.weight_bytes / 2)
    assert smaller.max_batch >= plain.max_batch  # the memory it frees holds more requests
