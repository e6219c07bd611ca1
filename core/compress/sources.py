"""Where the CNN to compress comes from, as the pieces of a `tool.Request`: a run in the
store (its data loaded again, split with its recorded seed), a training outcome of this
session, or a digits CNN trained now with the Train a CNN page's defaults."""

from __future__ import annotations

from dataclasses import dataclass

from core.compress.cnn import CompressError
from core.progress import QUIET, Progress
from core.vision.data import ImageTensors
from core.vision.model import Classifier, CNNConfig


@dataclass(frozen=True, kw_only=True)
class Source:
    """A trained CNN with the data it was trained on."""

    classifier: Classifier
    data: ImageTensors
    seed: int  # the split seed of its training
    label: str  # in words: "run 3f2a... (digits, 2 blocks x 24 channels)"
    run_id: str | None = None
    shift: int = 1
    flip: bool = False


def _data(name: str, device: str) -> ImageTensors:
    from core.vision import data

    if name == "digits":
        return data.load_digits(device)
    if name in data.downloads():
        try:
            return data.load_download(name, device)
        except Exception as err:
            raise CompressError(
                f"The run was trained on {name}, which is not on this machine ({err}); download "
                "it on the Train a CNN page first."
            ) from None
    raise CompressError(
        f"The run was trained on {name!r}, images the run store does not keep (an uploaded "
        ".zip): calibration, fine-tuning and the test need them. Pick a run trained on the "
        "digits or a downloadable set."
    )


def from_run(run_id: str, device: str = "cpu") -> Source:
    """The CNN of recorded run `run_id` and its data; CompressError (a ValueError) saying why
    not: not a CNN run, weights missing, data not kept."""
    from core import runs
    from core.vision import tool

    try:
        recorded = tool.load_run(run_id)
    except (ValueError, runs.StoreError) as err:
        raise CompressError(f"Cannot load run {run_id} as a CNN: {err}") from None
    params = recorded.params
    name = params.get("data", {}).get("name", "")
    train = params.get("train", {})
    c = recorded.classifier
    return Source(
        classifier=c,
        data=_data(name, device),
        seed=int(train.get("seed", 0)),
        label=f"run {run_id[:8]} ({name}, {c.config.describe()})",
        run_id=run_id,
        shift=int(train.get("shift", 1)),
        flip=bool(train.get("flip", False)),
    )


def from_outcome(outcome, run_id: str | None = None) -> Source:
    """A core.vision.tool.Outcome (the session's training) as a Source."""
    r = outcome.request
    return Source(
        classifier=outcome.classifier,
        data=r.data,
        seed=r.train.seed,
        label=f"this session's CNN ({r.data.name}, {r.model.describe()})",
        run_id=run_id,
        shift=r.train.shift,
        flip=r.train.flip,
    )


def train_digits(progress: Progress = QUIET, epochs: int = 15) -> Source:
    """A digits CNN trained now with the Train a CNN page's defaults."""
    from core.vision import tool
    from core.vision.data import load_digits
    from core.vision.trainer import TrainConfig

    data = load_digits("cpu")
    request = tool.Request(
        data=data, model=CNNConfig(), train=TrainConfig(epochs=epochs), record=False
    )
    outcome = tool.train(request, progress)
    return from_outcome(outcome)
