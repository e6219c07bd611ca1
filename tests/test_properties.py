"""Property tests (hypothesis) for core.economics.costs and its input checks: any float in, a
finite result or a ValueError out - never another exception, NaN or inf - and costs that grow
with size, tokens and price."""

import math

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from core.economics import catalog, checks, costs

ANY = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -1.0, 1e308, -1e308, 1e-308, math.nan, math.inf, -math.inf]
)
SANE = st.floats(1e-3, 1e15)  # a sensible positive quantity
SHAPE = catalog.model_presets()["8B class (Llama 3 8B)"]
H100 = catalog.GPU_CATALOG["H100-SXM"]

CALLS = {  # name -> a call with every float argument drawn from ANY
    "training_flops": lambda a: costs.training_flops(a[0], a[1]),
    "training_gpu_hours": lambda a: costs.training_gpu_hours(a[0], a[1], H100, a[2]),
    "energy_kwh": lambda a: costs.energy_kwh(a[0], a[1], a[2]),
    "co2_kg": lambda a: costs.co2_kg(a[0], a[1]),
    "estimate_training": lambda a: costs.estimate_training(
        a[0], a[1], H100, a[2], a[3], a[4], a[5], a[6]
    ),
    "kv_cache_bytes": lambda a: costs.kv_cache_bytes(a[0], a[1], a[2], a[3], a[4], a[5]),
    "decode_tokens_per_second_bound": lambda a: costs.decode_tokens_per_second_bound(
        a[0], a[1], H100
    ),
    "estimate_serving": lambda a: costs.estimate_serving(
        SHAPE, "bf16", a[0], a[1], a[2], a[3], H100, a[4], a[5], a[6]
    ),
    "api_monthly_usd": lambda a: costs.api_monthly_usd(a[0], a[1], a[2], a[3], a[4]),
    "runway": lambda a: costs.runway(
        a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], pilot_users=a[9]
    ),
    "chinchilla_loss": lambda a: costs.chinchilla_loss(a[0], a[1]),
    "chinchilla_optimal": lambda a: costs.chinchilla_optimal(a[0]),
    "loss_optimal": lambda a: costs.loss_optimal(a[0]),
    "shape_for": lambda a: costs.shape_for(a[0]),
    "positive": lambda a: checks.positive("x", a[0]),
    "fraction": lambda a: checks.fraction("x", a[0]),
    "non_negative": lambda a: checks.non_negative("x", a[0]),
    "check_published_runs": lambda a: costs.check_published_runs(a[0]),
    "usd_per_1k_tokens": lambda a: costs.usd_per_1k_tokens(a[0], a[1]),
    "hardware_rate": lambda a: costs.hardware_rate("cpu", None, a[0]),
}


def numbers(value) -> list[float]:
    """Every number inside a result (dataclasses, tuples, lists), for the finiteness check."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in numbers(v)]
    if hasattr(value, "__dataclass_fields__"):
        return [x for f in value.__dataclass_fields__ for x in numbers(getattr(value, f))]
    return []


INFINITE_BY_DESIGN = {"runway_months", "months_to_profit"}  # "never" is a real answer


def finite_fields(value) -> list[float]:
    if hasattr(value, "__dataclass_fields__"):
        return [
            x
            for f in value.__dataclass_fields__
            if f not in INFINITE_BY_DESIGN and f != "cash_by_month"
            for x in numbers(getattr(value, f))
        ]
    return numbers(value)


@pytest.mark.parametrize("name", sorted(CALLS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(args=st.lists(ANY, min_size=10, max_size=10))
# found by hypothesis: in estimate_serving replicas * GPUs past float range, a month of
# tokens that rounds to zero and an infinite USD per million tokens; loss_optimal below
@example(args=[1.0106656896209552e195, 1.0, 0.0, 1.0, 1.0, 5.682441778511875e-200, 1e-308, 0, 0, 0])
@example(args=[1.4492647626845128e89, 5.68e-200, 0.0, 5.68e-200, 1.0, 1e-308, 1e-308, 0, 0, 0])
@example(args=[4.0, 1.0, 0.0, 1.0, 1.0, 0.001953125, 1e-308, 0.0, 0.0, 0.0])
@example(args=[5e-324, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])  # loss_optimal: N underflowed
@example(args=[1e6, 2190.0, 253.0, 4.0, 6e4, 0.0, 0.0, 0.0, math.inf, 400.0])  # pre-revenue
def test_any_float_gives_a_finite_result_or_a_value_error(name, args):
    try:
        result = CALLS[name](args)
    except ValueError as err:
        assert str(err)  # a message a person can read
        return
    bad = [x for x in finite_fields(result) if not math.isfinite(x)]
    assert not bad, f"{name}{tuple(args)} -> {result}"


@settings(max_examples=200, deadline=None)
@given(n=SANE, d=SANE, k=st.floats(1.01, 100), price=st.floats(0.01, 100))
def test_training_cost_grows_with_parameters_tokens_and_price(n, d, k, price):
    base = costs.estimate_training(n, d, H100, 8, 0.4, price)
    assume(base.usd < 1e300)
    assert costs.estimate_training(n * k, d, H100, 8, 0.4, price).usd > base.usd
    assert costs.estimate_training(n, d * k, H100, 8, 0.4, price).usd > base.usd
    assert costs.estimate_training(n, d, H100, 8, 0.4, price * k).usd > base.usd


@settings(max_examples=200, deadline=None)
@given(
    requests=st.floats(1, 1e9),
    tin=st.floats(0, 1e5),
    tout=st.floats(1, 1e5),
    k=st.floats(1.01, 100),
    price=st.floats(0.01, 100),
)
def test_serving_and_api_costs_grow_with_load_tokens_and_price(requests, tin, tout, k, price):
    def serve(**kw):
        args = {"requests": requests, "tin": tin, "tout": tout, "price": price, **kw}
        return costs.estimate_serving(
            SHAPE, "bf16", 4096, args["requests"], args["tin"], args["tout"], H100, args["price"]
        ).monthly_usd

    base = serve()
    assert serve(requests=requests * k) >= base
    assert serve(tout=tout * k) >= base
    assert serve(price=price * k) > base
    api = costs.api_monthly_usd(requests, tin, tout, price, price)
    assert costs.api_monthly_usd(requests, tin, tout * k, price, price) > api
    assert costs.api_monthly_usd(requests, tin, tout, price * k, price * k) > api


@settings(max_examples=200, deadline=None)
@given(n=SANE, k=st.floats(1.01, 100))
def test_bigger_models_need_more_memory_and_decode_slower(n, k):
    assert costs.decode_tokens_per_second_bound(n * k, 2, H100) < (
        costs.decode_tokens_per_second_bound(n, 2, H100)
    )
    small, big = costs.shape_for(n), costs.shape_for(n * k)
    assert costs.training_memory(big).states > costs.training_memory(small).states


COMPANY = {  # runway's inputs where zero is a real answer (issue 24), each drawn from 0 up
    "users": st.just(0.0) | st.floats(1, 1e7),  # one user at least (denormals: refused)
    "price_per_user": st.just(0.0) | st.floats(0.01, 1e4),  # a cent at least
    "monthly_growth": st.just(0.0) | st.floats(0, 1),
    "pilot_users": st.just(0.0) | st.floats(1, 1e6),
}


@settings(max_examples=200, deadline=None)
@given(
    cash=st.floats(0, 1e9),
    other=st.floats(0, 1e7),
    serving=st.floats(0, 1e6),
    company=st.fixed_dictionaries(COMPANY),
)
def test_zero_users_revenue_and_growth_are_answers_not_refusals(cash, other, serving, company):
    """No paying users, no price, no growth, no pilot: a runway, never a ValueError, and
    figures that do not apply are None (said in words on the page), never NaN or inf."""
    u = costs.runway(cash, serving, 250.0, 4.0, other, **company, users_per_replica=1e4)
    assert not [x for x in finite_fields(u) if not math.isfinite(x)]
    revenue = company["users"] * company["price_per_user"]
    assert u.monthly_revenue == pytest.approx(revenue)
    assert (u.gross_margin is None) == (u.monthly_revenue == 0)
    if revenue == 0 and u.net_burn > 0:  # pre-revenue: the cash lasts, then runs out
        assert not u.default_alive and math.isinf(u.months_to_profit)
        assert 0 <= u.runway_months < math.inf
        if company["monthly_growth"] == 0 or company["users"] + company["pilot_users"] == 0:
            assert u.runway_months == pytest.approx(cash / u.net_burn)  # cash / burn


@settings(max_examples=100, deadline=None)
@given(
    users=st.just(0.0) | st.floats(1, 1e6),  # a user is one at least (denormals: refused)
    pilot=st.just(0.0) | st.floats(1, 1e6),
    growth=st.just(0.0) | st.floats(0, 1),
    n_gpus=st.integers(-2, 16),
    requests=st.just(0.0) | st.floats(1e-3, 1e8),
)
def test_the_case_shows_every_part_its_inputs_allow(users, pilot, growth, n_gpus, requests):
    """`assess` never raises for these inputs: a refused part is named in `problems` and the
    other parts are there (one bad input used to blank every tab)."""
    from core.economics import case

    c = case.Case(
        train=case.TrainInputs(n_gpus=n_gpus),
        serve=case.ServeInputs(requests_per_day=requests),
        startup=case.StartupInputs(users=users, pilot_users=pilot, monthly_growth=growth),
    )
    r = case.assess(c)
    assert set(r.problems) == ({"train"} if n_gpus < 1 else set())
    assert r.serve is not None and r.apis is not None
    assert (r.train is None) == (n_gpus < 1) and (r.startup is None) == (n_gpus < 1)
    if requests == 0:
        assert r.serve.monthly_usd == 0 and r.serve.usd_per_m_tokens is None
