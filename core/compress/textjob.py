"""The Compress tool for a causal LM (a GPT-2 folder): a `TextRequest` -> `text_job` (the
original, then dynamic int8, fp16 weights and a distilled student, each measured beside it
in turn) -> a `TextComparison` (every variant, what failed and why, where each was kept) ->
`run_record` (tool "compress", linked to the folder and to its run when the folder came
from one).

    job = jobs.submit(textjob.text_job(TextRequest(folder=f)), "compress gpt2", tool="compress")
    comparison = job.result  # also after Stop: the variants finished so far
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from core.compress import charts, gpt2, keep
from core.compress.cnn import CompressError
from core.compress.measure import Compared, Variant, machine, slug
from core.compress.student import StudentSettings, distil, shape_words, student_config
from core.progress import QUIET, Progress
from core.runs.types import Recorded, RunRecord
from core.text import quant

TOOL = "compress"
PERPLEXITY_BAR = 0.02  # the best trade-off loses at most this much perplexity (relative)
STUDENT = "distilled student"
METHODS = {"int8": "dynamic int8", "fp16": "fp16 weights", "student": STUDENT}
HELD_OUT_TOKENS = 1024  # perplexity is scored on the held-out text's first tokens
PROMPT_TOKENS = 16  # the greedy decode starts from this many held-out tokens
ARTIFACT_MB = 50  # kept folders up to this size are copied into the run's artifacts too


@dataclass(frozen=True, kw_only=True)
class TextRequest:
    """What to compress and how."""

    folder: str
    methods: tuple[str, ...] = ("int8", "fp16", "student")
    settings: gpt2.TextSettings = field(default_factory=gpt2.TextSettings)
    student: StudentSettings = field(default_factory=StudentSettings)
    text: str | None = None  # the student's training text (its last tenth is held out)
    text_name: str = "the built-in text"
    export: bool = True  # keep each variant's files (core.compress.keep)

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise CompressError(f"Unknown methods: {', '.join(unknown)}.")


@dataclass(kw_only=True)
class TextComparison(Compared):
    """A language model's original and each variant, as measured in one run."""

    request: TextRequest
    kept: dict[str, keep.Kept] = field(default_factory=dict)  # method -> where it was kept
    source_run: str | None = None  # the run that made the folder, when one did

    def good_enough(self, v: Variant) -> bool:
        """Within PERPLEXITY_BAR of the original's perplexity."""
        return v.quality.get("perplexity_change", math.inf) <= PERPLEXITY_BAR

    def student_variant(self) -> Variant | None:
        return next((v for v in self.variants if v.method == STUDENT), None)


def teacher_shape(folder: str | Path) -> tuple[int, int] | None:
    """(layers, width) from a GPT-2 folder's config.json (no transformers import); None when
    it is no GPT-2 folder."""
    try:
        cfg = json.loads((Path(folder) / "config.json").read_text())
        return int(cfg["n_layer"]), int(cfg["n_embd"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check(request: TextRequest) -> None:
    """CompressError saying why `request` cannot run, before a job starts: a folder with no
    weights or no causal LM, a student not smaller than its teacher."""
    gpt2.check_folder(request.folder)
    if "student" in request.methods:
        from transformers import AutoConfig

        student_config(AutoConfig.from_pretrained(request.folder), request.student)


def split_text(text: str) -> tuple[str, str]:
    """(training part, held-out last tenth) of the text."""
    cut = int(len(text) * 0.9)
    return text[:cut], text[cut:]


def source_run_of(folder: str | Path) -> str | None:
    """The run that made `folder`: the compress run marked in it, else the small GPT-2's
    training run whose `folder` tag (or name and end time) matches; None when none does or
    the store cannot say."""
    folder = Path(folder)
    facts = keep.marked(folder)
    if facts.get("run_id"):
        return facts["run_id"]
    try:
        from core import runs

        found = runs.list_runs("gpt2", limit=200)
    except Exception:  # no store, a read-only one: the folder is the link
        return None
    saved = (folder / "config.json").stat().st_mtime if (folder / "config.json").exists() else 0
    for r in found:
        if r.tags.get("folder") == str(folder):
            return r.id
    for r in found:  # runs recorded before the folder tag: same name, ended as it was saved
        ended = r.end.timestamp() + 60 if r.end else 0
        if r.name == folder.name and r.start.timestamp() - 1 <= saved <= ended:
            return r.id
    return None


def _method(c, model, tok, method: str, data: dict, progress: Progress, span) -> None:
    """Build, measure and keep one method; its failure is kept with the reason."""
    base, s = c.variants[0], c.request.settings
    name = METHODS[method]
    try:
        if method == "student":
            made, notes = distil(model, data["train"], c.request.student, progress, span)
            if made is None:
                c.stopped = True
                c.failed.append((name, f"Stopped: {notes}; the student is not kept."))
                return
            cfg = made.config
            precision = f"fp32, {shape_words(cfg.n_layer, cfg.n_embd)}"
        else:
            precision, build = gpt2.BUILDERS[name]
            made, notes = build(model), ""
        progress.report(span[1], f"Measuring {name} beside the original")
        v = gpt2.measure(model, made, name, precision, data["prompt"], data["held"], s, base, notes)
    except CompressError as err:
        c.failed.append((name, str(err)))
        return
    except quant.HalfOverflow:
        c.failed.append((name, "its values overflowed half precision (fp16 stops at 65504)."))
        return
    except Exception as err:  # one method's failure costs that method only
        c.failed.append((name, f"{type(err).__name__}: {err}"))
        return
    c.variants.append(v)
    c.variants[0] = gpt2.with_original_speed(c.variants[0], c.variants[1:])
    progress.log(method=name, speedup=v.speedup, perplexity=v.quality["perplexity"])
    if c.request.export:
        _keep(c, name, made if method != "fp16" else model, tok)


def _keep(c: TextComparison, name: str, model, tok) -> None:
    source = Path(c.request.folder)
    tail = {"dynamic int8": "int8", "fp16 weights": "fp16"}.get(name)
    if tail is None:
        cfg = model.config
        tail = f"student-{cfg.n_layer}x{cfg.n_embd}"
    try:
        c.kept[name] = keep.export(name, model, tok, source, f"{source.name}-{tail}")
    except Exception as err:  # the measured variant stays; only its files are missing
        c.failed.append((f"{name} (kept files)", f"{type(err).__name__}: {err}"))


SPANS = {"int8": (0.15, 0.25), "fp16": (0.25, 0.35), "student": (0.35, 0.9)}


def compress_text(request: TextRequest, progress: Progress = QUIET) -> TextComparison:
    """Load the folder, measure the original, then each method in turn; Stop keeps the
    variants finished so far."""
    t0 = time.perf_counter()
    progress.report(0.02, "Loading the model")
    model, tok = gpt2.load(request.folder)
    c = TextComparison(request=request, machine=machine(gpt2.decode_threads(model)))
    c.source_run = source_run_of(request.folder)
    from core.text import tinygpt

    train, held = split_text(request.text or tinygpt.builtin_corpus())
    ids = torch.tensor(tok(held)["input_ids"])[:HELD_OUT_TOKENS]
    data = {"held": ids, "prompt": ids[:PROMPT_TOKENS]}
    if "student" in request.methods:
        progress.report(0.05, "Encoding the training text")
        data["train"] = tinygpt.encode(tok, train).long()
    progress.report(0.1, "Measuring the original")
    c.variants.append(gpt2.original(model, ids, request.settings))
    for method in request.methods:
        if progress.should_stop():
            break
        _method(c, model, tok, method, data, progress, SPANS[method])
    c.stopped = c.stopped or progress.should_stop()
    c.seconds = time.perf_counter() - t0
    return c


def text_job(request: TextRequest, record: bool = True) -> Callable[[Progress], TextComparison]:
    """The job target: compress_text, then record the comparison (and mark each kept folder
    with the run's id); a TextComparison back, also when stopped."""

    def target(progress: Progress = QUIET) -> TextComparison:
        c = compress_text(request, progress)
        if record:
            progress.report(0.95, "Recording the run")
            from core import runs  # the store loads with the first recording

            try:
                c.recorded = runs.try_record(TOOL, run_record(c))
            except Exception as err:  # a chart or an artifact failed: the results stay
                c.recorded = Recorded(reason=f"{type(err).__name__}: {err}")
            if c.recorded.ok:
                for kept in c.kept.values():
                    keep.mark(kept.path, {"run_id": c.recorded.run_id})
        progress.report(1.0, "Done")
        return c

    return target


def run_record(c: TextComparison) -> RunRecord:
    """Every figure of every variant, the table, the chart, the machine, the student's
    settings, where each variant was kept, and the source folder and run."""
    r = c.request
    metrics, best, st = c.metrics(), c.best(), c.student_variant()
    if st is not None:
        metrics |= {
            "student_param_ratio": st.param_ratio,
            "student_perplexity_change": st.quality["perplexity_change"],
        }
    artifacts: dict = {"machine.json": json.dumps(asdict(c.machine), indent=2)}
    for name, kept in c.kept.items():
        if keep.folder_bytes(kept.path) <= ARTIFACT_MB * 1e6:
            artifacts[f"variants/{slug(name)}"] = kept.path
    tags = c.tags("cpu", c.source_run) | {"source_folder": r.folder, "model": "causal LM"}
    return RunRecord(
        name=f"Compress {Path(r.folder).name}",
        params={
            "source": r.folder,
            "source_run": c.source_run or "",
            "methods": [METHODS[m] for m in r.methods],
            "settings": asdict(r.settings),
            "student": asdict(r.student) if "student" in r.methods else {},
            "text": r.text_name,
            "kept": {name: str(k.path) for name, k in c.kept.items()},
            "machine": asdict(c.machine),
        },
        metrics=metrics,
        tables={"variants": gpt2.rows(c.variants)},
        figures={"trade_off": charts.perplexity_trade_off(c.variants, best)},
        artifacts=artifacts,
        tags=tags,
        status="KILLED" if c.stopped else "FINISHED",
    )
