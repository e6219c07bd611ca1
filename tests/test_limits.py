"""core.limits: folder size caps and the per-session upload cap."""

import pytest
from streamlit.testing.v1 import AppTest

from core import limits


def test_check_room_refuses_past_the_cap_with_what_to_do(tmp_path, monkeypatch):
    (tmp_path / "a.bin").write_bytes(b"x" * 600)
    monkeypatch.setenv("DASHBOARD_MAX_MODELS_GB", str(1000 / 1e9))  # a 1,000-byte cap
    limits.check_room("models", tmp_path, incoming=400)  # exactly full is allowed
    with pytest.raises(limits.FolderFull, match="DASHBOARD_MAX_MODELS_GB"):
        limits.check_room("models", tmp_path, incoming=401)
    monkeypatch.setenv("DASHBOARD_MAX_MODELS_GB", "0")  # no cap
    limits.check_room("models", tmp_path, incoming=10**15)
    monkeypatch.setenv("DASHBOARD_MAX_MODELS_GB", "lots")  # unreadable: the default cap
    assert limits.folder_cap_bytes("models") == limits.FOLDER_CAPS_GB["models"] * 1e9
    assert limits.folder_bytes(tmp_path / "missing") == 0


def uploader_page():
    import streamlit as st

    import ui

    for i in range(3):
        up = st.file_uploader(f"File {i}", key=f"f{i}")
        if up is not None and ui.upload_bytes(up) is not None:
            st.success(f"File {i}: {up.size} bytes")


def test_a_session_cannot_upload_past_its_cap(monkeypatch):
    monkeypatch.setattr(limits, "MAX_SESSION_UPLOAD_MB", 1)  # 1 MiB for the whole session
    at = AppTest.from_function(uploader_page).run()
    for i, size in enumerate((600_000, 400_000, 100_000)):
        at.get("file_uploader")[i].upload(f"f{i}.bin", b"x" * size, "application/octet-stream")
        at.run()
    assert [s.value for s in at.success] == ["File 0: 600000 bytes", "File 1: 400000 bytes"]
    assert at.error[0].value.startswith("Refused: this session has uploaded 1 MB")
