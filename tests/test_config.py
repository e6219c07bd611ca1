"""Project wiring: config limits match the code, CI runs the README's command, every page
file is in the navigation."""

import re
import tomllib
from pathlib import Path

import ui
from core.limits import MAX_UPLOAD_MB

ROOT = Path(__file__).resolve().parents[1]


def test_upload_limit_in_config_matches_the_app():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == MAX_UPLOAD_MB
    assert config["server"]["headless"] is True


def readme_commands() -> list[str]:
    """The commands in the README's bash blocks."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readme_test_command_exactly():
    commands = readme_commands()
    assert commands == ["bash .ci/app", "bash .ci/test"]
    ci_lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert commands[1] in ci_lines


def test_every_page_file_is_in_the_navigation():
    on_disk = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py"))
    assert on_disk == sorted(["pages/home.py", *(t.path for t in ui.TOOLS)])


def test_requirements_pin_the_torch_pair_that_installs_here():
    pins = (ROOT / "requirements.txt").read_text()
    assert "torch==2.14.1" in pins and "torchvision==0.29.1" in pins
    for line in pins.splitlines():
        if line.strip() and not line.startswith("#"):
            assert "==" in line, f"unpinned requirement: {line}"
