"""Limits the app enforces on what a user sends it.

`.streamlit/config.toml` sets `server.maxUploadSize` to MAX_UPLOAD_MB so that the browser
refuses a file the app would refuse anyway (a test keeps the two equal). The folders the
app writes (models, data sets, runs) have size caps, and one session's uploads together
have a cap too, so one user cannot fill a shared disk.
"""

import math
import os
from pathlib import Path

MAX_UPLOAD_MB = 200  # largest single upload, MB (Streamlit counts 1 MB = 2**20 bytes)
MAX_ZIP_FILES = 20_000  # files in one uploaded archive
MAX_ZIP_UNCOMPRESSED_MB = 1024  # what an archive may expand to, MiB (zip bombs stop here)
MIN_IMAGES_PER_CLASS = 5  # fewer cannot fill a train / validation / test split
MAX_SESSION_UPLOAD_MB = 1024  # all uploads of one browser session together, MB

# Size caps on what the app keeps on disk, GB ($DASHBOARD_MAX_<FOLDER>_GB overrides; 0 = none).
FOLDER_CAPS_GB = {"models": 20.0, "datasets": 20.0, "runs": 20.0}


class FolderFull(Exception):
    """Writing would take a folder of the app's home past its size cap."""


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under `folder` (0 if it does not exist)."""
    if not folder.exists():
        return 0
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def folder_cap_bytes(kind: str) -> float:
    """The cap of the `kind` folder ("models", "datasets", "runs") in bytes; inf for none."""
    raw = os.environ.get(f"DASHBOARD_MAX_{kind.upper()}_GB", "")
    try:
        gb = float(raw) if raw else FOLDER_CAPS_GB[kind]
    except ValueError:
        gb = FOLDER_CAPS_GB[kind]
    return math.inf if gb <= 0 or not math.isfinite(gb) else gb * 1e9


def check_room(kind: str, folder: Path, incoming: int = 0) -> None:
    """Raise FolderFull, with what to do, if `folder` plus `incoming` bytes exceeds its cap."""
    cap = folder_cap_bytes(kind)
    used = folder_bytes(folder)
    if used + incoming > cap:
        raise FolderFull(
            f"The {kind} folder ({folder}) holds {used / 1e9:.2f} GB and its cap is "
            f"{cap / 1e9:.2f} GB: delete something there (or raise DASHBOARD_MAX_"
            f"{kind.upper()}_GB) before saving more."
        )


def session_upload_left(used_bytes: int) -> int:
    """Bytes this session may still upload, given what it has uploaded so far."""
    return max(0, MAX_SESSION_UPLOAD_MB * 2**20 - used_bytes)
