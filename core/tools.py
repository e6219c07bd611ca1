"""The one list of the dashboard's tools: their pages, how Home presents them, the widget-key
prefix each page owns, and what each records in the run store (one MLflow experiment per
kind of run, with the figure that sums a run up in a list).

Plain data, no imports beyond the standard library: Home, the sidebar and the run store all
read it, and Home must stay light.

    tools.TOOLS            # the tool pages, in navigation order
    tools.RUN_KINDS["cnn"] # what a CNN run is called, where it lives, its headline figure
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

EXPERIMENT_PREFIX = "dashboard/"  # an MLflow experiment is prefix + run kind: "dashboard/cnn"
HOME = "pages/home.py"
HOME_PREFIX = "home_"  # widget keys of Home
APP_PREFIX = "app_"  # widget keys of the shared sidebar, drawn on every page
RUNS_PAGE = "pages/runs.py"
RUN_PARAM = "run"  # URL parameter naming a recorded run (Runs and Train a CNN: ?run=<id>)


@dataclass(frozen=True, kw_only=True)
class Headline:
    """The figure that sums a run up in a list: the first metric of `metrics` recorded."""

    label: str  # column title, e.g. "Test accuracy"
    metrics: tuple[str, ...]  # metric names to try, in order
    unit: str  # "%" (a fraction shown in percent), "USD", "tokens/s", "x" (a ratio) or ""


@dataclass(frozen=True, kw_only=True)
class RunKind:
    """One kind of recorded run: an MLflow experiment of its own."""

    id: str  # "cnn": the experiment is EXPERIMENT_PREFIX + id
    label: str  # how run lists name the kind, e.g. "GPT-2 training"
    headline: Headline


@dataclass(frozen=True, kw_only=True)
class Tool:
    """One tool page: its file, how Home presents it, and the runs it records."""

    path: str  # page file, relative to app.py
    title: str  # page title and navigation label
    icon: str  # Material icon
    prefix: str  # every widget key of the page starts with it, e.g. "cnn_"
    pitch: str  # one sentence for its card on Home
    offline: str  # what works with no network
    records: tuple[RunKind, ...] = ()  # the kinds of run the page records


TOOLS = (
    Tool(
        path="pages/train_cnn.py",
        title="Train a CNN",
        icon=":material/image_search:",
        prefix="cnn_",
        pitch="Train an image classifier on built-in, downloadable or your own images, with live "
        "curves, diagnostics and export.",
        offline="The built-in digits set and your own uploaded images.",
        records=(
            RunKind(
                id="cnn",
                label="Train a CNN",
                headline=Headline(label="Test accuracy", metrics=("test_accuracy",), unit="%"),
            ),
        ),
    ),
    Tool(
        path="pages/chat_gpt2.py",
        title="Chat with GPT-2",
        icon=":material/forum:",
        prefix="chat_",
        pitch="Chat with any Hugging Face causal LM or a small GPT-2 you train yourself, with "
        "streaming, sampling controls and measured speed and cost.",
        offline="Models already in your local Hugging Face cache or models folder, and "
        "training your own.",
        records=(
            RunKind(
                id="gpt2",
                label="GPT-2 training",
                headline=Headline(label="Final val loss", metrics=("val_loss",), unit=""),
            ),
            RunKind(
                id="chat",
                label="Chat",
                headline=Headline(label="Speed", metrics=("tokens_per_s",), unit="tokens/s"),
            ),
        ),
    ),
    Tool(
        path="pages/compare_optimizers.py",
        title="Compare optimizers",
        icon=":material/insights:",
        prefix="optim_",
        pitch="Race optimizers on 2-D test surfaces and on a real model, each with a tuned "
        "learning rate.",
        offline="Everything: the surfaces are formulas and the real model trains on built-in "
        "digits.",
        records=(
            RunKind(
                id="optimizers",
                label="Compare optimizers",
                headline=Headline(
                    label="Best final loss", metrics=("best_val_loss", "best_final_loss"), unit=""
                ),
            ),
        ),
    ),
    Tool(
        path="pages/business_case.py",
        title="Business case",
        icon=":material/payments:",
        prefix="case_",
        pitch="What training and serving a model costs on GPUs, when self-hosting beats an API, "
        "scaling laws and energy.",
        offline="Everything: the GPU and price tables ship with the app.",
        records=(
            RunKind(
                id="business",
                label="Business case",
                headline=Headline(
                    label="Training cost", metrics=("training_cost_usd",), unit="USD"
                ),
            ),
        ),
    ),
    Tool(
        path="pages/compress.py",
        title="Compress a model",
        icon=":material/compress:",
        prefix="compress_",
        pitch="Make a trained CNN smaller and faster (ONNX Runtime, int8, pruning, "
        "distillation), measured beside the original on this machine, and carry the saving "
        "into the business case.",
        offline="Everything: the methods and the measurement run on this machine.",
        records=(
            RunKind(
                id="compress",
                label="Compress a model",
                headline=Headline(label="Best speed-up", metrics=("best_speedup",), unit="x"),
            ),
        ),
    ),
    Tool(
        path="pages/runs.py",
        title="Runs",
        icon=":material/history:",
        prefix="runs_",
        pitch="Every run the tools recorded, kept in MLflow: compare them, open one, load its "
        "model, and turn the best into a pitch pack.",
        offline="Everything: the run store is a local SQLite file unless you point it at a server.",
    ),
)

RUN_KINDS = MappingProxyType({kind.id: kind for tool in TOOLS for kind in tool.records})


def tool_of(kind: str) -> Tool:
    """The tool page whose runs are of `kind` ("gpt2" and "chat" live on the chat page)."""
    for tool in TOOLS:
        if any(k.id == kind for k in tool.records):
            return tool
    raise KeyError(f"No tool records runs of kind {kind!r}.")


def page_of(kind: str) -> str | None:
    """The page where runs (and jobs) of `kind` live; None for a job of no recorded kind
    (a download, a load test)."""
    return next((t.path for t in TOOLS if any(k.id == kind for k in t.records)), None)


def experiment_name(kind: str) -> str:
    """The MLflow experiment of runs of `kind`: 'dashboard/cnn'."""
    return EXPERIMENT_PREFIX + kind
