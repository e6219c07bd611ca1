"""A chat kept for its browser session: its messages and settings in one JSON file per
session id under HOME/chats, written on each new message, so a refresh restores it; and a
saved chat's chat.json (a "Save this chat" run) read back into messages.

    save(sid, messages, state); messages, state = load(sid) or ([], {})

Bounded: the newest MAX_MESSAGES messages and at most MAX_BYTES per file, the newest
MAX_SESSIONS files kept.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import fields
from pathlib import Path

from core import paths
from core.text.chat import Message, transcript_json
from core.text.generate import Reply
from core.text.prompt import Settings

SESSION_ID = re.compile(r"^[0-9a-f]{8,32}$")
MAX_MESSAGES = 200
MAX_BYTES = 1_000_000
MAX_SESSIONS = 50
_REPLY_FIELDS = {f.name for f in fields(Reply)} - {"tokens", "text"}


def folder() -> Path:
    return paths.home() / "chats"


def new_id() -> str:
    return secrets.token_hex(8)


def message_of(record: dict) -> Message:
    """A Message from its `Message.as_record()` (a reply's stats, without its tokens)."""
    settings = record.get("settings")
    if settings is not None:
        settings = Settings(**settings | {"stop": tuple(settings.get("stop", ()))})
    stats = record.get("stats")
    reply = None
    if stats is not None:
        kept = {k: v for k, v in stats.items() if k in _REPLY_FIELDS}
        reply = Reply(text=record.get("content", ""), **kept)
    return Message(
        role=record["role"],
        content=record.get("content", ""),
        settings=settings,
        reply=reply,
        server=record.get("server", ""),
        error=record.get("error", ""),
    )


def messages_of(chat_json: str | bytes) -> list[Message]:
    """The messages of a chat.json (an export, or a saved chat's artifact); ValueError
    saying why it is not one."""
    try:
        records = json.loads(chat_json)["messages"]
        return [message_of(r) for r in records]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"Not a chat saved by this app ({type(err).__name__}: {err}).") from None


def _path(sid: str) -> Path:
    if not SESSION_ID.match(sid):
        raise ValueError(f"Not a chat session id: {sid!r}.")
    return folder() / f"{sid}.json"


def encode(messages: list[Message], state: dict) -> str:
    """The session's file: the newest messages that fit MAX_BYTES, and the settings."""
    kept = messages[-MAX_MESSAGES:]
    while True:
        text = json.dumps(
            {"state": state, "dropped": len(messages) - len(kept)}
            | json.loads(transcript_json({}, kept))
        )
        if len(text.encode()) <= MAX_BYTES or len(kept) <= 1:
            return text
        kept = kept[len(kept) // 4 or 1 :]


def save(sid: str, messages: list[Message], state: dict) -> None:
    """Write the session's file (atomically), then drop the oldest beyond MAX_SESSIONS;
    OSError when the home folder cannot be written."""
    path = _path(sid)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(encode(messages, state))
    os.replace(tmp, path)
    others = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime)
    for old in others[:-MAX_SESSIONS]:
        old.unlink(missing_ok=True)


def load(sid: str) -> tuple[list[Message], dict] | None:
    """(messages, settings) of a session, or None when there is none (or it is unreadable)."""
    try:
        text = _path(sid).read_text()
        return messages_of(text), dict(json.loads(text).get("state") or {})
    except (OSError, ValueError):
        return None
