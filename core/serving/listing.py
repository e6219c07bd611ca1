"""What GET /v1/models says: each model's name and, where the server gives it, its window
(vLLM's `max_model_len`, llama.cpp's `meta.n_ctx_train`, `context_length` elsewhere; many
servers say nothing).

    models = listing.parse(http_response)  # ValueError: not an OpenAI model list
"""

from __future__ import annotations

from dataclasses import dataclass

# fields of a /v1/models entry (or of its "meta") that give the model's window in tokens
WINDOW_FIELDS = ("max_model_len", "context_length", "max_context_length", "n_ctx", "n_ctx_train")


@dataclass(frozen=True)
class ListedModel:
    """One entry of GET /v1/models."""

    id: str  # the name requests use
    window: int | None = None  # tokens it attends to, where the server says; None: unknown


def window_of(entry: dict) -> int | None:
    """The window an entry of /v1/models gives, in tokens; None when it gives none."""
    for part in (entry, entry.get("meta") or {}):
        for field in WINDOW_FIELDS:
            value = part.get(field) if isinstance(part, dict) else None
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def parse(response) -> list[ListedModel]:
    """The models of an httpx response to GET /v1/models, sorted by name; ValueError saying
    what arrived instead when it is not an OpenAI model list."""
    kind = response.headers.get("content-type", "").split(";")[0] or "no content type"
    try:
        data = response.json().get("data")
    except (ValueError, AttributeError):
        what = "it sent a web page" if kind == "text/html" else f"it sent {kind}, not JSON"
        raise ValueError(f"GET /models: {what}") from None
    if not isinstance(data, list) or not all(isinstance(m, dict) and "id" in m for m in data):
        raise ValueError("GET /models sent JSON without a list of models")
    return sorted((ListedModel(str(m["id"]), window_of(m)) for m in data), key=lambda m: m.id)
