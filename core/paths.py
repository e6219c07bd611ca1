"""Where the app keeps what it makes: one home folder, $DASHBOARD_HOME (default
~/.cache/ai-dashboard), with models, data sets, runs and servers' logs under it.

The older per-folder variables ($DASHBOARD_MODELS, $DASHBOARD_DATA) still win for their
folder. Nothing here creates a folder; callers create what they write into.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The app's home folder: $DASHBOARD_HOME or ~/.cache/ai-dashboard."""
    return Path(os.environ.get("DASHBOARD_HOME") or Path.home() / ".cache" / "ai-dashboard")


def models_dir() -> Path:
    """Trained and hand-copied models: $DASHBOARD_MODELS or HOME/models."""
    return Path(os.environ.get("DASHBOARD_MODELS") or home() / "models")


def data_dir() -> Path:
    """Downloaded data sets: $DASHBOARD_DATA or HOME/datasets."""
    return Path(os.environ.get("DASHBOARD_DATA") or home() / "datasets")


def runs_dir() -> Path:
    """The embedded run store (SQLite + artifacts) and job checkpoints: HOME/runs."""
    return home() / "runs"
