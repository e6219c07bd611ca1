"""The CPU fast path, chosen by measurement: at a model's first fast load each candidate
engine decodes a few greedy tokens and scores a short text, and the fastest whose perplexity
stays within QUALITY_BAR of plain fp32 wins. The choice is kept per model and machine under
the home folder (`choices.json`), so it is measured once.

Candidates (`ENGINES`): plain fp32 `generate`; fp16 weights (core.text.quant.half_linears);
torch dynamic int8 (core.text.quant.int8_dynamic); CTranslate2 fp32 and int8 (the model
converted offline from its transformers weights, `CT2Model`). Whether int8 pays depends on
the CPU (VNNI/AMX or not), so the machine decides, not the processor's name.

Every engine answers transformers' `generate(...)` keywords the app uses (core.text.generate
calls it the same way): streaming, Stop, stop strings, sampling and the per-token view.
CTranslate2 streams only each chosen token's log-probability, so its top-5 alternatives come
from one forward pass of the loaded fp32 model over the reply, run when the token view is
read (after the reply's timing ends): the alternatives are the full-precision model's.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from core import paths, units
from core.text import quant

QUALITY_BAR = 0.02  # the largest relative perplexity change a fast engine may bring
CALIBRATION_TOKENS = 12  # greedy tokens each engine decodes at load
PROGRESS_S = 0.25  # how often a calibration says which engine it is timing
# how engines are timed (a choice kept from a calibration timed otherwise is measured again)
CALIBRATION_KIND = "as-a-reply, fewer threads"
CALIBRATION_TEXT = (
    "The cost of serving a model is the hardware it runs on, the hours it runs, and how many "
    "tokens each second it writes. A faster engine on the same machine serves more people for "
    "the same money, as long as what it writes stays as good as before."
)
ENGINES = ("plain", "fp16", "int8-torch", "ct2-float32", "ct2-int8")
LABELS = {
    "plain": "fp32 transformers",
    "fp16": "fp16 weights",
    "int8-torch": "int8 torch dynamic",
    "ct2-float32": "fp32 CTranslate2",
    "ct2-int8": "int8 CTranslate2",
}
LOWERED = {"fp16", "int8-torch", "ct2-int8"}  # engines that lower precision


class EngineError(RuntimeError):
    """An engine could not be built or run on this model (it is then not a candidate)."""


@dataclass(kw_only=True)
class Measured:
    """One engine's calibration on one model and machine."""

    engine: str
    tokens_per_s: float = math.nan  # greedy decode after the first token
    perplexity_change: float = math.nan  # relative, against plain fp32, on CALIBRATION_TEXT
    agreement: float = math.nan  # greedy tokens equal to plain fp32's, position by position
    error: str = ""  # why it could not run ("" when it ran)
    threads: int = 0  # CPU threads it decoded on (0: the count the calibration was asked for)


@dataclass(kw_only=True)
class Choice:
    """The chosen engine, how it compares with plain, and every candidate's figures."""

    engine: str
    speedup: float  # chosen tokens/s over plain's, measured in the same calibration
    measured: list[Measured]
    threads: int = 0  # CPU threads a reply decodes on (0: as generate.generation_threads says)

    def describe(self) -> str:
        """For the page: "int8 CTranslate2, 2.1x plain on this CPU, measured at load"."""
        label = LABELS[self.engine]
        if self.engine == "plain":
            return f"{label} (no engine beat it within the quality bar on this CPU)"
        on = f" on {units.count(self.threads, 'thread')}" if self.threads else ""
        text = f"{label}{on}, {self.speedup:.1f}x plain on this CPU, measured at load"
        if self.engine.startswith("ct2"):
            text += "; token view from the fp32 model, scored after each reply"
        return text + (" (precision lowered)" if self.engine in LOWERED else "")


def choose(measured: list[Measured], bar: float = QUALITY_BAR) -> Choice:
    """The fastest engine whose perplexity change is within `bar` (plain when none is, or
    when plain itself was not measured: no speed-up can then be claimed)."""
    plain = next((m for m in measured if m.engine == "plain" and not m.error), None)
    if plain is None or not plain.tokens_per_s > 0:
        return Choice(engine="plain", speedup=1.0, measured=measured)
    fit = [
        m
        for m in measured
        if not m.error and m.tokens_per_s > 0 and abs(m.perplexity_change) <= bar
    ]
    best = max(fit, key=lambda m: m.tokens_per_s, default=plain)
    if best.tokens_per_s <= plain.tokens_per_s:
        best = plain
    speedup = best.tokens_per_s / plain.tokens_per_s
    return Choice(engine=best.engine, speedup=speedup, measured=measured, threads=best.threads)


# ---- building engines -------------------------------------------------------------------


class QuietInt8:
    """torch's dynamic int8 copy of a model; generating under quiet_quantization (its layers
    warn on every call that torch's eager quantization is deprecated)."""

    def __init__(self, model) -> None:
        self.model = quant.int8_dynamic(model)
        self.config, self.dtype = model.config, torch.float32

    def __call__(self, *args, **kwargs):
        with quant.quiet_quantization():
            return self.model(*args, **kwargs)

    def generate(self, *args, **kwargs):
        with quant.quiet_quantization():
            return self.model.generate(*args, **kwargs)


def build(lm, engine: str, threads: int):
    """The model object `engine` generates with for `lm` (anything with `generate`)."""
    if engine == "plain":
        return lm.model
    if engine == "fp16":
        return quant.half_linears(quant.sharing_copy(lm.model)).eval()
    if engine == "int8-torch":
        return QuietInt8(lm.model)
    if engine.startswith("ct2-"):
        try:
            import ctranslate2  # noqa: F401
        except ImportError:
            raise EngineError("CTranslate2 is not installed (pip install ctranslate2)") from None
        from core.text import ct2

        return ct2.CT2Model(lm, ct2.converted(lm, cache_dir()), engine[4:], threads)
    raise ValueError(f"Unknown engine {engine!r}")


def cache_dir() -> Path:
    return paths.home() / "fastpath"


# ---- calibration ------------------------------------------------------------------------


class Stamps:
    """A streamer that keeps each token's arrival time (the prompt's put first)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def put(self, value) -> None:
        self.times.append(time.perf_counter())

    def end(self) -> None:
        pass

    def decode_rate(self) -> float:
        """Tokens/s after the first new token (times[0] is the prompt)."""
        new = self.times[1:]
        return (len(new) - 1) / (new[-1] - new[0]) if len(new) > 1 else math.nan


def greedy(model, ids: list[int], new: int, pad: int, streamer=None) -> tuple[list[int], float]:
    """(new token ids, seconds) of a greedy generate of exactly `new` tokens."""
    t = torch.tensor([ids])
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(
            input_ids=t,
            attention_mask=torch.ones_like(t),
            max_new_tokens=new,
            min_new_tokens=new,
            do_sample=False,
            pad_token_id=pad,
            return_dict_in_generate=True,
            streamer=streamer,
        )
    seconds = time.perf_counter() - t0
    return out.sequences[0, len(ids) :].tolist(), seconds


def perplexity(model, ids: list[int]) -> float:
    """exp(mean next-token loss) of `ids` under `model` (a CT2Model scores itself)."""
    if hasattr(model, "perplexity"):
        return model.perplexity(ids)
    with torch.inference_mode():
        logits = model(torch.tensor([ids])).logits[0, :-1].float()
    return math.exp(torch.nn.functional.cross_entropy(logits, torch.tensor(ids[1:])).item())


def measure(model, ids: list[int], text_ids: list[int], pad: int, tokens: int):
    """(decode tokens/s, greedy tokens, perplexity): after a 2-token warm-up, the better of
    two `tokens`-token generates (one when that alone took over a second), timed from the
    first new token to the last."""
    greedy(model, ids, 2, pad)
    rates, out = [], []
    for _ in range(2):
        stamps = Stamps()
        out, seconds = greedy(model, ids, tokens, pad, stamps)
        rates.append(stamps.decode_rate())
        if seconds > 1.0:
            break
    return max(rates), out, perplexity(model, text_ids)


def calibrate(
    lm, threads: int, engines=ENGINES, tokens=CALIBRATION_TOKENS, progress=None
) -> list[Measured]:
    """Each engine's Measured on `lm` at `threads` threads (an engine that fails carries
    its error; plain comes first, as the reference). `progress(stage)`, when given, hears
    which engine is being timed ("fp16 weights, 2 of 5"), from the calling thread."""
    tok = lm.tokenizer
    text_ids = tok(CALIBRATION_TEXT)["input_ids"][: min(lm.context, 256)]
    ids = text_ids[:24]
    pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
    results, ref_tokens, ref_ppl = [], [], math.nan
    stage = [""]

    def each_engine() -> None:
        nonlocal ref_tokens, ref_ppl
        for i, engine in enumerate(engines):
            stage[0] = f"{LABELS[engine]}, {i + 1} of {len(engines)}"
            try:
                model = build(lm, engine, threads)
                rate, out, ppl = measure(model, ids, text_ids, pad, tokens)
            except Exception as err:  # an engine that cannot run is no candidate
                results.append(Measured(engine=engine, error=f"{type(err).__name__}: {err}"))
                continue
            if engine == "plain":
                ref_tokens, ref_ppl = out, ppl
            same = sum(a == b for a, b in zip(out, ref_tokens, strict=False))
            results.append(
                Measured(
                    engine=engine,
                    tokens_per_s=rate,
                    perplexity_change=ppl / ref_ppl - 1 if ref_ppl > 0 else math.nan,
                    agreement=same / max(len(ref_tokens), 1),
                    threads=threads,
                )
            )

    like_a_reply(each_engine, threads, (lambda: progress(stage[0])) if progress else None)
    return results


def like_a_reply(work, threads: int, waiting=None) -> None:
    """Run `work` at `threads` torch threads as a reply runs: in a fresh thread (core.jobs
    starts one per reply) beside another thread's OpenMP team (the page's). torch's OpenMP
    (libgomp) spins between parallel regions only while there are no more OpenMP threads than
    cores, and sleeps between them otherwise: GPT-2 124M in torch int8 at 2 threads decoded
    105-112 tokens/s alone and 48-55 beside a second team, while CTranslate2 (its own pool)
    kept 94 in both. Measured alone, calibration picked an engine replies ran at half speed.
    `waiting()`, when given, is called from this thread every PROGRESS_S until it ends."""
    from core import device as dev

    failure: list[BaseException] = []

    def run() -> None:
        try:
            with dev.torch_threads(threads):
                work()
        except BaseException as err:  # raised again in the caller
            failure.append(err)

    torch.ones(1 << 20).add_(1)  # this thread's team (at its own count): one parallel op
    worker = threading.Thread(target=run, name="calibrate the fast path", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(PROGRESS_S)
        if waiting is not None:
            waiting()
    if failure:
        raise failure[0]


def on_one_thread(lm, best: Choice, threads: int, progress=None) -> list[Measured]:
    """The chosen engine timed again on one thread, when more were asked for. Beside other
    threads (the page's, the reply's own loop) one engine thread can decode faster than
    several: CTranslate2 int8 on GPT-2 124M did 175 tokens/s on 1 thread and 106 on 2, on 2
    cores. Quality is the engine's at any thread count, so it is not scored again."""
    if threads <= 1 or best.engine == "plain":
        return []
    first = next(m for m in best.measured if m.engine == best.engine and not m.error)
    told = (lambda stage: progress(f"{stage.split(',')[0]} on 1 thread")) if progress else None
    again = calibrate(lm, 1, engines=(best.engine,), progress=told)[0]
    if again.error:
        return []
    return [replace(first, tokens_per_s=again.tokens_per_s, threads=1)]


# ---- the cached choice -------------------------------------------------------------------


def machine() -> str:
    """What the measurement depends on besides the model: CPU, its instruction sets, versions."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    names = [ln.split(":", 1)[1].strip() for ln in info.splitlines() if "model name" in ln]
    name = names[0] if names else platform.processor()
    words = set(info.split())
    flags = [f for f in ("avx2", "avx512f", "avx512_vnni", "amx_tile", "amx_int8") if f in words]
    return f"{name} {'/'.join(flags)} torch {torch.__version__} ct2 {ct2_version()}"


def ct2_version() -> str:
    try:
        import ctranslate2

        return ctranslate2.__version__
    except ImportError:
        return "none"


def model_key(lm) -> str:
    """The model's identity: its name, size, and its weight files' sizes and times."""
    parts = [lm.name, str(lm.parameters)]
    folder = Path(lm.name)
    if folder.is_dir():
        for f in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
            stat = f.stat()
            parts.append(f"{f.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def cached_choice(lm, threads: int, engines=ENGINES, progress=None) -> Choice:
    """The choice for `lm` on this machine at `threads`: from choices.json when it was
    measured before, otherwise calibrated now and kept."""
    what = f"{model_key(lm)}|{machine()}|{threads}|{','.join(engines)}|{CALIBRATION_KIND}"
    key = hashlib.sha256(what.encode()).hexdigest()[:20]
    store = cache_dir() / "choices.json"
    try:
        known = json.loads(store.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        measured = [Measured(**m) for m in known[key]]
    else:
        measured = calibrate(lm, threads, engines, progress=progress)
        measured += on_one_thread(lm, choose(measured), threads, progress)
        known[key] = [asdict(m) for m in measured]
        try:
            store.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=store.parent, delete=False) as f:
                json.dump(known, f)
            Path(f.name).replace(store)
        except OSError:
            pass  # a read-only home measures again next time
    return choose(measured)
