"""Property tests (hypothesis) for what users send: the zip loader given random or mutated
archives raises nothing but its own DataError, and prompt building given any history and
window always fits the window."""

import io
import zipfile

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.text.loading import LoadedModel, load_model
from core.text.prompt import Settings, build_prompt
from core.vision import data
from tests.helpers import archive, save_tiny_gpt2


def png(shade: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (8, 8), shade).save(buf, "PNG")
    return buf.getvalue()


VALID = archive({f"{c}/{i}.png": png(40 * i) for c in ("cats", "dogs") for i in range(6)})
NAMES = st.text(alphabet="abc/._-\\ ", min_size=1, max_size=12)  # names zipfile can write
FILES = st.dictionaries(NAMES, st.binary(max_size=64) | st.sampled_from([png(0), png(255)]))


def load(raw: bytes) -> None:
    """Load `raw` as an upload; only a DataError (the page's message) may come out."""
    try:
        ds, _ = data.load_zip(raw, "cpu", 8, "upload")
    except data.DataError as err:
        assert str(err)  # always a message a person can read
    else:
        assert len(ds.classes) >= 2 and len(ds.y) == ds.x.shape[0]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_are_refused_with_a_data_error(raw):
    load(raw)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=8))
@example(flips=[(1578, 64)])  # found by hypothesis: "NotImplementedError: zip file version 6.4"
def test_a_mutated_archive_loads_or_is_refused_with_a_data_error(flips):
    raw = bytearray(VALID)
    for where, value in flips:
        raw[where] = value
    load(bytes(raw))


@settings(max_examples=40, deadline=None)
@given(FILES)
def test_any_archive_layout_loads_or_is_refused_with_a_data_error(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    load(buf.getvalue())


_MODELS: dict[int, LoadedModel] = {}


def tiny_lm(window: int, tmp_factory) -> LoadedModel:
    """A tiny GPT-2 with a `window`-token context, loaded once per window."""
    if window not in _MODELS:
        folder = save_tiny_gpt2(
            tmp_factory.mktemp(f"w{window}"), "the fox and the dog. " * 50, window
        )
        _MODELS[window] = load_model(str(folder), "cpu")
    return _MODELS[window]


TURN = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant"]),
        "content": st.text(max_size=400),
    }
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    history=st.lists(TURN, min_size=1, max_size=8),
    window=st.sampled_from([32, 96]),
    new=st.integers(1, 40),
    mode=st.sampled_from(["chat", "completion"]),
    system=st.text(max_size=60),
)
def test_a_prompt_always_fits_the_window(tmp_path_factory, history, window, new, mode, system):
    lm = tiny_lm(window, tmp_path_factory)
    s = Settings(max_new_tokens=new, mode=mode, system=system)
    try:
        prompt = build_prompt(lm, history, s)
    except ValueError as err:  # no room left, or nothing to answer: said in words
        assert str(err)
        return
    assert 1 <= len(prompt.ids) <= window - new
    assert prompt.budget == window - new
