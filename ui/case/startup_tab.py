"""The Startup view tab: the company's inputs (cash, other costs, users, growth, price) and
its figures: burn, runway, months to profit, the verdict, cash month by month."""

from __future__ import annotations

import streamlit as st

from core.economics import charts, figures
from core.economics.case import Case, Report, StartupInputs
from ui.case.widgets import metrics_ui

DEFAULT = StartupInputs()  # what the widgets open on


def inputs_ui() -> StartupInputs:
    """The company: cash, costs other than compute, paying users, their growth and price."""
    c1, c2, c3 = st.columns(3)
    cash = c1.number_input(
        "Cash in the bank (USD)", value=DEFAULT.cash, step=100_000.0, key="case_cash"
    )
    retrains = c1.number_input(
        "Training runs per year", value=DEFAULT.retrains_per_year, key="case_retrains_per_year"
    )
    other = c2.number_input(
        "Other monthly costs (USD)",
        value=DEFAULT.other_monthly,
        step=1000.0,
        key="case_other_monthly",
        help="Salaries, rent: everything that is not compute.",
    )
    growth = c2.number_input(
        "User growth per month (%)",
        value=DEFAULT.monthly_growth * 100,
        step=1.0,
        key="case_growth_pct",
    )
    users = c3.number_input(
        "Paying users",
        value=DEFAULT.users,
        step=10.0,
        format="%.0f",
        key="case_users",
        help="0 is a real answer: a pre-revenue company has a runway all the same.",
    )
    price = c3.number_input(
        "Price per user (USD/month)", value=DEFAULT.price_per_user, key="case_price_per_user"
    )
    pilot = c1.number_input(
        "Pilot users (free)",
        value=DEFAULT.pilot_users,
        step=10.0,
        format="%.0f",
        key="case_pilot_users",
        help="Users of a free pilot or trial: they make serving load, not revenue.",
    )
    return StartupInputs(
        cash=cash,
        retrains_per_year=retrains,
        other_monthly=other,
        users=users,
        price_per_user=price,
        monthly_growth=growth / 100,
        pilot_users=pilot,
    )


def figures_ui(case: Case, report: Report) -> None:
    """Burn, runway and margin; default alive or dead; this month's costs; cash over time."""
    metrics_ui(figures.startup_figures(case.startup, report))
    verdict = figures.verdict(case.startup, report)
    (st.success if report.startup.default_alive else st.error)(verdict)
    left, right = st.columns(2)
    left.plotly_chart(
        charts.bars(figures.burn_breakdown(report, case.startup), "This month", "USD per month"),
        key="case_burn_chart",
    )
    right.plotly_chart(charts.cash_curve(report.startup.cash_by_month), key="case_cash_chart")
