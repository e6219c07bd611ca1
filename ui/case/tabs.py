"""The Business case's tabs: their names, every input (on its tab) gathered into one
`Case`, and the figures of the open tab.

Every input but the price grids is drawn on every run, closed tabs included, so the
figures of every tab come from the same inputs. Only the open tab's figures are drawn (a
tab switch reruns the page): six plotly charts and two tables in closed tabs made the
page's first open and every edit wait for them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import streamlit as st

from core.economics.case import Case, Report
from ui.case import prices_tab, scaling_tabs, serve_tab, startup_tab, train_tab

Draw = Callable[[Case, Report], None]
FIGURES: dict[str, Draw] = {  # tab -> what it draws while open, in the order of the tabs
    "Train": train_tab.figures_ui,
    "Serve vs API": serve_tab.figures_ui,
    "Startup view": startup_tab.figures_ui,
    "Scaling laws": scaling_tabs.scaling_ui,
    "Published runs": scaling_tabs.runs_ui,
}
TABS = [*FIGURES, "Prices"]
NEEDS = {  # tab -> the parts of the report its figures are drawn from
    "Train": ("train",),
    "Serve vs API": ("serve",),
    "Startup view": ("startup", "train", "serve"),
    "Scaling laws": ("train",),
    "Published runs": ("train",),
}
PART_TABS = {"train": "Train", "serve": "Serve vs API", "startup": "Startup view"}


def case_ui(tab: Mapping) -> Case:
    """Every input, each on its tab (`tab`: name -> st.tabs container), as one Case; the
    price grids only while Prices is open."""
    with tab["Prices"]:
        gpus, apis = prices_tab.catalog_ui(tab["Prices"].open)
    with tab["Startup view"]:
        startup = startup_tab.inputs_ui()
    with tab["Train"]:
        train = train_tab.inputs_ui(gpus)
    with tab["Serve vs API"]:
        serve = serve_tab.inputs_ui(gpus, startup.users + startup.pilot_users)
    return Case(train=train, serve=serve, startup=startup, apis=apis, catalog=gpus)


def refused_text(part: str, problem: str, here: str) -> str:
    """'Input refused: ...' with where the input is, and that the other tabs still count."""
    where = "" if PART_TABS[part] == here else f" (on the {PART_TABS[part]} tab)"
    return f"Input refused{where}: {problem} These figures wait for it; the other tabs do not."


def figures_ui(tab: Mapping, case: Case, report: Report) -> None:
    """The open tab's figures, below its inputs; a tab whose inputs (or the inputs it is
    drawn from) were refused says which, and the others draw as usual."""
    for name, draw in FIGURES.items():
        if tab[name].open:
            with tab[name]:
                refused = [p for p in NEEDS[name] if p in report.problems]
                for part in refused:
                    st.error(refused_text(part, report.problems[part], name))
                if not refused:
                    draw(case, report)
