"""What a reply is asked for: `Settings` (sampling knobs, prompt mode, system prompt) with
its `KNOBS` table, and `build_prompt`, which fits a conversation into a model's window.

`Settings.KNOBS` is the one place a sampling knob is described: its `generate()` keyword,
its name in an OpenAI-compatible request (or that it goes in `extra_body`), its "off" value
and its allowed range. The local model's `generate()` keywords (`Settings.generate_kwargs`)
and a server's request fields (`Settings.server_fields`) are derived from it, and
`Settings.__post_init__` validates every knob from it. A new knob is one field, one row here
and one widget (`ui/chat/settings.py`).
"""

from __future__ import annotations

import functools
import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

if TYPE_CHECKING:
    from core.text.loading import LoadedModel

PLAIN_STOPS = ("\nUser:", "\nSystem:")  # a base model's next turn starts here
# The User:/Assistant: transcript as a chat template, saved with the models trained here so
# servers (`transformers serve`'s /v1/chat/completions) can chat with them.
TRANSCRIPT_TEMPLATE = (
    "{%- set names = {'user': 'User', 'assistant': 'Assistant', 'system': 'System'} -%}"
    "{%- for m in messages -%}"
    "{%- if not loop.first %}{{ '\\n' }}{% endif -%}"
    "{{ names[m['role']] }}: {{ m['content'] }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt %}{{ '\\nAssistant:' }}{% endif -%}"
)
ROLE_NAMES = {"user": "User", "assistant": "Assistant", "system": "System"}
BLANK_LOOKING = set("\u115f\u1160\u2800\u3164\uffa0")  # fillers that draw nothing
NEVER_OFF = object()  # a knob's `off` when no value turns it off (always passed and sent)


class Turn(TypedDict):
    """One turn as a prompt (and the OpenAI chat API) takes it."""

    role: str  # "user", "assistant" or "system"
    content: str


@dataclass(frozen=True, kw_only=True)
class Knob:
    """One setting of `Settings` as `generate()` and an OpenAI-compatible server take it."""

    field: str  # the Settings field
    label: str  # how messages name it
    generate: str | None  # its generate() keyword (None: core.text.generate applies it)
    server: str  # its field in a request to a server
    extra_body: bool = False  # not in the OpenAI API: sent in extra_body (vLLM, TGI take it)
    off: Any = NEVER_OFF  # the value that turns it off: then neither passed nor sent
    sampling_only: bool = False  # greedy decoding ignores it: generate() gets None then
    check: Callable[[Any], bool] | None = None  # True for an allowed value
    allowed: str = ""  # the allowed values, in words, for the message


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Sampling and prompt settings for one reply."""

    temperature: float = 0.8  # 0 = greedy
    top_k: int = 50  # 0 = off
    top_p: float = 0.95  # 1 = off
    repetition_penalty: float = 1.1  # 1 = off
    max_new_tokens: int = 120
    seed: int | None = 0  # None: unseeded (a server gets none)
    stop: tuple[str, ...] = ()  # extra stop sequences
    mode: str = "chat"  # chat or completion
    system: str = ""  # optional system prompt (chat)

    KNOBS: ClassVar[tuple[Knob, ...]] = (
        Knob(field="temperature", label="Temperature", generate="temperature",
             server="temperature", sampling_only=True, check=lambda v: 0 <= v <= 5,
             allowed="0-5"),
        Knob(field="top_k", label="Top-k", generate="top_k", server="top_k", extra_body=True,
             off=0, sampling_only=True, check=lambda v: v >= 0, allowed="0 or more"),
        Knob(field="top_p", label="Top-p", generate="top_p", server="top_p", off=1.0,
             sampling_only=True, check=lambda v: 0 < v <= 1, allowed="in (0, 1]"),
        Knob(field="repetition_penalty", label="Repetition penalty",
             generate="repetition_penalty", server="repetition_penalty", extra_body=True,
             off=1.0, check=lambda v: 0.5 <= v <= 3, allowed="0.5-3"),
        Knob(field="max_new_tokens", label="Max new tokens", generate="max_new_tokens",
             server="max_tokens", check=lambda v: 1 <= v <= 8192, allowed="1-8,192"),
        # torch's generator is seeded with it before generate() runs
        Knob(field="seed", label="Seed", generate=None, server="seed", off=None),
        # generate() also stops at the transcript's next turn, and needs the tokenizer
        Knob(field="stop", label="Stop sequences", generate=None, server="stop", off=()),
    )  # fmt: skip

    def __post_init__(self) -> None:
        for knob in self.KNOBS:
            value = getattr(self, knob.field)
            if knob.check is not None and not knob.check(value):
                raise ValueError(f"{knob.label} must be {knob.allowed}, got {value}.")
        if self.mode not in ("chat", "completion"):
            raise ValueError(f"Mode must be chat or completion, got {self.mode!r}.")

    @classmethod
    def only(cls, **fields: Any) -> Settings:
        """Settings that ask for `fields` and nothing more: every knob that can be off is
        (a server's own defaults apply), and no seed."""
        off = {k.field: k.off for k in cls.KNOBS if k.off is not NEVER_OFF}
        return cls(**off | fields)

    @property
    def sampling(self) -> bool:
        """Whether the reply is sampled (temperature above 0) rather than greedy."""
        return self.temperature > 0

    def generate_kwargs(self) -> dict[str, Any]:
        """generate()'s keywords for the knobs that have one, plus `do_sample`: None for a
        knob that is off or that greedy decoding ignores."""
        kwargs: dict[str, Any] = {"do_sample": self.sampling}
        for knob in self.KNOBS:
            if knob.generate is not None:
                value = getattr(self, knob.field)
                used = value != knob.off and (self.sampling or not knob.sampling_only)
                kwargs[knob.generate] = value if used else None
        return kwargs

    def server_fields(self) -> dict[str, Any]:
        """A request's fields for the knobs, by their server names; a knob that is off is
        left out, so the server's own default applies."""
        values = {k.server: (getattr(self, k.field), k.off) for k in self.KNOBS}
        return {name: value for name, (value, off) in values.items() if value != off}


EXTRA_BODY = frozenset(k.server for k in Settings.KNOBS if k.extra_body)  # not OpenAI API


@dataclass(frozen=True, kw_only=True)
class Prompt:
    """The token ids sent to the model and how the history was cut to fit."""

    ids: list[int]
    text: str  # as the model sees it
    budget: int  # prompt tokens allowed: window - max new tokens
    dropped_turns: int  # oldest turns left out
    cut_tokens: int = 0  # tokens cut from the left of the newest message (0 = it fits)
    system_folded: bool = False  # the template refuses a system role: it opens the first turn

    @property
    def truncated(self) -> bool:
        """The newest message itself was cut from the left."""
        return self.cut_tokens > 0


def default_max_new_tokens(context: int) -> int:
    """Max new tokens that leave most of a `context`-token window to the conversation: a
    third of it, at most 120."""
    return max(1, min(120, context // 3))


def max_new_tokens_cap(context: int) -> int:
    """The most new tokens a `context`-token window allows while keeping room for a prompt."""
    return max(1, min(1024, context - 8))


def fresh_seed() -> int:
    """A new random seed (recorded with a reply so it can be reproduced)."""
    return random.SystemRandom().randrange(2**31)


def parse_stops(raw: str) -> tuple[str, ...]:
    """'a, b,,c' -> ('a', 'b', 'c'): comma-separated stop sequences."""
    return tuple(s for s in (x.strip() for x in raw.split(",")) if s)


def clean(text: str) -> str:
    """Text with control characters (other than newline and tab) removed."""
    return "".join(c for c in text if c in "\n\t" or (ord(c) >= 32 and ord(c) != 127))


def is_blank(text: str) -> bool:
    """True when `text` shows nothing: spaces, control, zero-width and format characters."""
    return all(
        c.isspace() or c in BLANK_LOOKING or unicodedata.category(c) in ("Cc", "Cf", "Zs")
        for c in text
    )


def plain_transcript(turns: list[Turn], system: str) -> str:
    """The User:/Assistant: transcript a base model continues (TRANSCRIPT_TEMPLATE's text)."""
    lines = [f"System: {system}"] if system else []
    lines += [f"{ROLE_NAMES[t['role']]}: {t['content']}" for t in turns]
    return "\n".join(lines) + "\nAssistant:"


def stop_sequences(lm: LoadedModel, s: Settings) -> list[str]:
    """The user's stop sequences, plus the next-turn markers for a transcript-style chat."""
    template = getattr(lm.tokenizer, "chat_template", None)
    plain = s.mode == "chat" and template in (None, "", TRANSCRIPT_TEMPLATE)
    return list(s.stop) + (list(PLAIN_STOPS) if plain else [])


def _render(lm: LoadedModel, turns: list[Turn], settings: Settings) -> tuple[str, bool]:
    """The prompt's text, and whether the system prompt was folded into the first user turn
    (for a chat template that refuses the system role, as Gemma's do)."""
    if settings.mode == "completion":
        return "".join(t["content"] for t in turns if t["role"] == "user")[-200_000:], False
    if not lm.has_chat_template:
        return plain_transcript(turns, settings.system), False
    from jinja2.exceptions import TemplateError

    apply = lambda ts: lm.tokenizer.apply_chat_template(  # noqa: E731
        ts, tokenize=False, add_generation_prompt=True
    )
    try:
        if not settings.system:
            return apply(turns), False
        try:
            return apply([Turn(role="system", content=settings.system), *turns]), False
        except TemplateError:
            return apply(fold_system(turns, settings.system)), True
    except TemplateError as err:
        raise ValueError(
            f"This model's chat template refuses the conversation: {err}. Try the completion "
            "mode, or Clear the chat."
        ) from None


def fold_system(turns: list[Turn], system: str) -> list[Turn]:
    """`turns` with the system prompt at the start of the first user turn."""
    first = next((i for i, t in enumerate(turns) if t["role"] == "user"), None)
    if first is None:
        return [Turn(role="user", content=system), *turns]
    folded = Turn(role="user", content=f"{system}\n\n{turns[first]['content']}")
    return [*turns[:first], folded, *turns[first + 1 :]]


def build_prompt(lm: LoadedModel, history: list[Turn], settings: Settings) -> Prompt:
    """The newest turns that fit in the window minus max new tokens; if even the last
    message alone does not fit, its oldest tokens go (cut from the left)."""
    budget = lm.context - settings.max_new_tokens
    if budget < 1:
        raise ValueError(
            f"Max new tokens ({settings.max_new_tokens}) leaves no room in this model's "
            f"{lm.context}-token window; lower it."
        )
    turns = [Turn(role=t["role"], content=clean(t["content"])) for t in history]
    if settings.mode == "completion":
        turns = turns[-1:]
    if not turns:
        raise ValueError("Nothing to answer: the conversation is empty.")

    folded = []

    def encode(start: int) -> tuple[str, list[int]]:
        text, was_folded = _render(lm, turns[start:], settings)
        folded.append(was_folded)
        return text, lm.tokenizer(text, add_special_tokens=False)["input_ids"]

    # Fewer turns never take more tokens, so bisect for the first start that fits.
    low, high = 0, len(turns) - 1
    while low < high:
        mid = (low + high) // 2
        if len(encode(mid)[1]) <= budget:
            high = mid
        else:
            low = mid + 1
    text, ids = encode(low)
    if not ids:  # e.g. an empty completion prompt: generate() needs at least one token
        raise ValueError("Nothing to answer: the prompt is empty.")
    if len(ids) <= budget:
        return Prompt(
            ids=ids, text=text, budget=budget, dropped_turns=low, system_folded=folded[-1]
        )
    return Prompt(
        ids=ids[-budget:],
        text=lm.tokenizer.decode(ids[-budget:]),
        budget=budget,
        dropped_turns=len(turns) - 1,
        cut_tokens=len(ids) - budget,
        system_folded=folded[-1],
    )


# ---- a conversation for a server: the turns that fit its window ------------------------

BYTES_PER_TOKEN = 2  # a cautious guess where the server's tokenizer is not here (BPE: ~4)
TURN_OVERHEAD = 6  # tokens a chat template adds around each turn, at most (a guess)


def estimate_tokens(turns: list[Turn]) -> int:
    """A cautious count of the tokens `turns` take in a chat request."""
    return sum(len(t["content"].encode()) // BYTES_PER_TOKEN + TURN_OVERHEAD for t in turns)


@functools.lru_cache(maxsize=8)
def template_counter(folder: str) -> Callable[[list[Turn]], int] | None:
    """The exact token count of a chat request with the tokenizer saved in `folder` (a
    server this app started serves it), or None where it has none."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError):
        return None

    def count(turns: list[Turn]) -> int:
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
        else:
            text = plain_transcript(turns, "")
        return len(tok(text, add_special_tokens=False)["input_ids"])

    return count


def fit_turns(
    turns: list[Turn], budget: int, count: Callable[[list[Turn]], int] = estimate_tokens
) -> tuple[list[Turn], int]:
    """(the newest turns whose `count` fits in `budget`, how many older turns were left out);
    a system turn first stays, and the last turn is always kept."""
    head = turns[:1] if turns and turns[0]["role"] == "system" else []
    body = turns[len(head) :]
    low, high = 0, max(len(body) - 1, 0)
    while low < high:  # fewer turns never take more tokens
        mid = (low + high) // 2
        if count(head + body[mid:]) <= budget:
            high = mid
        else:
            low = mid + 1
    return head + body[low:], low
