"""Pages through streamlit.testing.v1.AppTest: every page renders with its title, Home links
every tool, the sidebar badge and free-memory control work, light pages stay torch-free."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import ui
from core import cache
from tests.helpers import APP, open_page
from ui import shell

ROOT = Path(__file__).resolve().parents[1]
PAGES = [("pages/home.py", "AI Prototyping Dashboard")] + [(t.path, t.title) for t in ui.TOOLS]


@pytest.mark.parametrize(("path", "title"), PAGES)
def test_every_page_renders_its_title(path, title):
    at = open_page(path)
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == [title]


def test_home_links_every_tool_and_says_what_works_offline():
    at = open_page("pages/home.py")
    links = at.get("page_link")
    tour, tools = links[: len(ui.TOUR)], links[len(ui.TOUR) :]
    assert [link.proto.label for link in tools] == [f"Open {t.title}" for t in ui.TOOLS]
    assert [link.proto.page for link in tools] == [Path(t.path).stem for t in ui.TOOLS]
    assert [link.proto.page for link in tour] == [Path(s.page).stem for s in ui.TOUR]
    assert "Start here" in [s.value for s in at.subheader]
    steps = [m.value for m in at.markdown if m.value.startswith(("**1.", "**2.", "**3.", "**4."))]
    assert len(steps) == 4 and steps[0].startswith("**1. Train a CNN on digits**")
    assert "With no network" in [s.value for s in at.subheader]
    offline = " ".join(m.value for m in at.markdown)
    for tool in ui.TOOLS:
        assert f"**{tool.title}**: {tool.offline}" in offline


def test_sidebar_shows_hardware_and_versions():
    at = open_page("pages/home.py")
    badge = at.sidebar.markdown[0].value
    assert "**CPU**" in badge and " threads" in badge and "GiB used by the app" in badge
    versions = at.sidebar.caption[0].value
    for package in ("torch", "transformers", "streamlit"):
        assert f"{package} {shell.version_of(package)}" in versions
    assert at.sidebar.selectbox(key=ui.DEVICE_KEY).options == ["Auto (CPU)", "CPU"]


def test_free_memory_button_empties_the_cache():
    cache.free_cached_resources()
    data = cache.digits("cpu")
    at = open_page("pages/business_case.py")
    assert at.sidebar.caption[-1].value.startswith("Resident: digits on cpu")
    at.button(key="app_free_memory").click().run()
    assert at.sidebar.caption[-1].value == "Resident: nothing cached yet"
    assert cache.resident() == []
    assert cache.digits("cpu") is not data
    assert [t.value for t in at.toast] == [
        f"Freed {data.nbytes / 2**20:.1f} MiB of cached models and data."  # no GPU here
    ]
    cache.free_cached_resources()


def test_bad_device_environment_variable_warns_and_falls_back(monkeypatch):
    monkeypatch.setenv("DASHBOARD_DEVICE", "tpu")
    at = open_page("pages/home.py")
    assert not at.exception
    assert "Unknown DASHBOARD_DEVICE='tpu'" in at.sidebar.warning[0].value
    assert at.sidebar.selectbox(key=ui.DEVICE_KEY).value == "auto"


def test_missing_device_in_environment_warns(monkeypatch):
    monkeypatch.setenv("DASHBOARD_DEVICE", "cuda")
    at = open_page("pages/home.py")
    assert "no such device" in at.sidebar.warning[0].value


def test_home_and_calculator_do_not_import_torch_or_mlflow():
    code = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({APP!r}, default_timeout=60)\n"
        "at.run()\n"
        "at.switch_page('pages/business_case.py').run()\n"
        "assert not at.exception\n"
        "heavy = ('torch', 'transformers', 'torchvision', 'mlflow', 'openai')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    env = {**os.environ, "DASHBOARD_WARM": "0"}  # the page path alone, no background warm-up
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
