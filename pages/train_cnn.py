"""Train a CNN: pick data (built-in digits, a torchvision download, or your own .zip), train
with live curves and Stop, then read the diagnostics, try the model and export it. Every run
is recorded in the run store; `?run=<run_id>` loads a recorded model back.

Widgets -> cnn.Request -> a `core.jobs` worker (`core.vision.cnn.train_job`: train, evaluate,
record) -> the shared job widgets poll it -> the page draws the outcome.
"""

from pathlib import Path

import streamlit as st
from PIL import Image, UnidentifiedImageError

import ui
from core import cache, runs, train, units
from core.optim import optimizers
from core.vision import charts, cnn, data, vision
from ui import cluster

JOB, FETCH, UPLOAD, RUN = "cnn_job", "cnn_fetch", "cnn_upload", "run"
SOURCES = {
    "digits": "Built-in digits (offline)",
    "download": "Download a classic set",
    "upload": "Your images (.zip)",
}
DEFAULT_OPTIMIZER = "AdamW"
IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp"]


def data_ui(device: str) -> data.ImageTensors | None:
    """The chosen data set on `device`, or None (with a message) until there is one."""
    source = st.radio(
        "Data", list(SOURCES), format_func=SOURCES.get, horizontal=True, key="cnn_source"
    )
    if source == "digits":
        return cache.digits(device)
    return download_ui(device) if source == "download" else upload_ui(device)


def download_ui(device: str) -> data.ImageTensors | None:
    specs = data.downloads()
    name = st.selectbox(
        "Data set",
        list(specs),
        key="cnn_download",
        format_func=lambda n: f"{n} ({specs[n].size_mb:.0f} MB download)",
    )
    job = ui.job_of(FETCH)
    if job is not None and not job.active and job.meta.get("name") != name:
        job = None  # an earlier download of another set: its outcome stays with that set
    if job is not None and job.status == "done":
        return cache.downloaded(name, device)
    st.caption(f"Saved under {data.data_root()} after the first download.")
    if ui.job_buttons_ui(job, FETCH, f"Download {name}"):
        target = lambda ctx: data.fetch_download(name, ctx)  # noqa: E731
        if ui.submit_job(
            FETCH,
            target,
            f"download {name}",
            tool="cnn-data",
            device="network",
            meta={"name": name},
        ):
            st.rerun()
    if job is not None and job.active:
        ui.job_progress_ui(FETCH)
    elif job is not None:
        ui.job_failed_ui(job, f"Downloading {job.meta['name']}")
    return None


def upload_ui(device: str) -> data.ImageTensors | None:
    size = st.select_slider("Resize images to", [16, 24, 32, 48, 64], 32, key="cnn_size")
    up = st.file_uploader(
        "A .zip with one folder per class",
        type=["zip"],
        key="cnn_zip",
        help=f"e.g. cats/001.jpg, dogs/002.png ... (max {data.limits.MAX_UPLOAD_MB} MB, "
        f"{data.limits.MAX_ZIP_FILES:,} files)",
    )
    if up is None:
        st.info("Upload a .zip to train on your own images; the built-in digits work meanwhile.")
        return None
    held = st.session_state.get(UPLOAD)
    if held is None or held[0] != (up.file_id, size):
        if (content := ui.upload_bytes(up)) is None:
            return None
        try:
            with st.spinner("Reading the archive..."):
                ds, report = data.load_zip(content, device, size, Path(up.name).stem)
        except data.DataError as err:
            st.error(str(err))
            return None
        held = st.session_state[UPLOAD] = ((up.file_id, size), ds, report)
    _, ds, report = held
    if report.skipped:
        with st.expander(f"{len(report.skipped)} file(s) skipped"):
            st.dataframe([{"File": f, "Why": why} for f, why in report.skipped], hide_index=True)
    if changes := report.changes(size):
        st.caption(changes)
    return ds


def preview_ui(ds: data.ImageTensors) -> None:
    st.caption(f"{ds.describe()}, on {ds.device}; split 70/15/15 by class.")
    pictures, captions = cnn.preview(ds)
    st.image(pictures, caption=captions, width=56)


def settings_ui(ds: data.ImageTensors) -> tuple[vision.CNNConfig, vision.TrainConfig]:
    c, h, _ = ds.shape
    small = h <= 16
    c1, c2, c3, c4 = st.columns(4)
    names = list(optimizers.REGISTRY)
    model = dict(
        blocks=c1.slider("Conv blocks", 1, 4, 2, key="cnn_blocks"),
        width=c1.select_slider(
            "Width (channels)", [8, 16, 24, 32, 48, 64, 96, 128], 24, key="cnn_width"
        ),
    )
    train = dict(
        optimizer=c2.selectbox("Optimizer", names, names.index(DEFAULT_OPTIMIZER), key="cnn_opt"),
        lr=c2.number_input("Learning rate", 1e-6, 10.0, 1e-2, format="%.0e", key="cnn_lr"),
        batch_size=c3.select_slider(
            "Batch size", [16, 32, 64, 128, 256, 512, 1024], 128, key="cnn_batch"
        ),
        epochs=c3.number_input("Epochs", 1, 500, 15, key="cnn_epochs"),
        schedule=c4.radio("Schedule", ["one-cycle", "constant"], key="cnn_schedule"),
        seed=c4.number_input("Seed", 0, 10**6, 0, key="cnn_seed"),
    )
    with st.expander("Regularisation, augmentation, early stopping"):
        e1, e2, e3, e4 = st.columns(4)
        model["batch_norm"] = e1.toggle("Batch norm", True, key="cnn_bn")
        model["dropout"] = e1.slider("Dropout", 0.0, 0.8, 0.1, 0.05, key="cnn_dropout")
        train["label_smoothing"] = e2.slider(
            "Label smoothing", 0.0, 0.3, 0.0, 0.05, key="cnn_smooth"
        )
        train["weight_decay"] = e2.number_input(
            "Weight decay", 0.0, 1.0, 5e-4, format="%.0e", key="cnn_decay"
        )
        train["flip"] = e3.toggle(
            "Random flips",
            not small,
            key="cnn_flip",
            help="Off for digits and text: a flipped 2 is not a 2.",
        )
        train["shift"] = e3.slider(
            "Random shift (pixels)", 0, 4, 1 if small else 2, key="cnn_shift"
        )
        train["patience"] = e4.number_input(
            "Early-stop patience (epochs, 0 = off)", 0, 100, 8, key="cnn_patience"
        )
    shape = dict(in_channels=c, num_classes=len(ds.classes), image_size=h)
    return vision.CNNConfig(**shape, **model), vision.TrainConfig(**train)


def live_curves_ui(job) -> None:
    """Loss and accuracy while training (redrawn every few polls: ui.job_progress_ui)."""
    rows = job.metrics()
    if not rows:
        return
    left, right = st.columns(2)
    loss = {"train_loss": "train", "val_loss": "validation"}
    accuracy = {"train_accuracy": "train", "val_accuracy": "validation"}
    ui.live_lines_ui(rows, "epoch", loss, "Loss", where=left)
    ui.live_lines_ui(rows, "epoch", accuracy, "Accuracy", where=right)


def train_ui(request: cnn.Request, device: str) -> None:
    job = ui.job_of(JOB)
    if ui.job_buttons_ui(job, JOB, "Train"):
        target = cnn.train_job(request, after_page=True)
        if ui.submit_job(
            JOB, target, "train cnn", tool="cnn", device=device, meta={"label": request.describe()}
        ):
            st.rerun()
    if job is None:
        return
    if job.active:
        ui.job_progress_ui(JOB, draw=live_curves_ui)
    elif not ui.job_failed_ui(job, "Training") and job.result is not None:
        outcome_ui(job.result, request.data, device, "res")


def outcome_ui(outcome: cnn.Outcome, ds: data.ImageTensors, device: str, key: str) -> None:
    """Every result of one run, headed by the data and settings that produced it."""
    trained_on = outcome.request.data.describe()
    if trained_on != ds.describe():
        st.info(
            f"Your last run trained on other data ({trained_on}): its results are hidden. "
            "Switch back to that data to see them."
        )
        return
    st.subheader("Results", anchor=False)
    st.caption(f"Trained on {outcome.request.describe()}.")
    r = outcome.result
    if r.reason in ("diverged", "out of memory", "did not learn"):
        st.warning(r.message)
    elif r.message:
        st.info(r.message)
    if outcome.evaluation is None:
        return
    record_ui(outcome)
    metrics_ui(outcome, device)
    st.plotly_chart(charts.training_curves([vars(e) for e in r.history]), key=f"{key}_curves")
    diagnostics_ui(outcome, key)
    outcome.shown.set()  # the recording may start now (core.vision.cnn.train_job)


def metrics_ui(outcome: cnn.Outcome, device: str) -> None:
    r, n_test = outcome.result, len(outcome.splits[2])
    cost, price = outcome.cost_usd(device)
    cols = st.columns(5)
    cols[0].metric(
        "Test accuracy",
        units.percent(outcome.evaluation.accuracy),
        help=f"{n_test} held-out images",
    )
    cols[1].metric("Best epoch", f"{r.best_epoch} of {len(r.history)}")
    cols[2].metric(
        "Wall time",
        f"{outcome.waited_s:.1f} s",
        help="From the start of training to these results.",
    )
    cols[3].metric(
        "Images per second",
        f"{r.images_per_s:,.0f}",
        help="Training images per second of training.",
    )
    cols[4].metric("Cost of this run", units.usd(cost), help=price)


def diagnostics_ui(outcome: cnn.Outcome, key: str) -> None:
    ev, classes = outcome.evaluation, outcome.request.data.classes
    tabs = st.tabs(["Confusion and per-class", "Mistakes", "Why (Grad-CAM)", "Try it", "Export"])
    with tabs[0]:
        left, right = st.columns([3, 2])
        left.plotly_chart(charts.confusion(ev.confusion, classes), key=f"{key}_confusion")
        right.dataframe(cnn.per_class_rows(ev, classes), hide_index=True)
    with tabs[1]:
        mistakes_ui(outcome)
    with tabs[2]:
        gradcam_ui(outcome, key)
    with tabs[3]:
        try_ui(outcome.classifier, key)
    with tabs[4]:
        export_ui(outcome.classifier, key)


@st.fragment(run_every=1.0)
def recording_ui(outcome: cnn.Outcome) -> None:
    """Polls until the worker's recording ends, then redraws the page once."""
    if outcome.recorded.is_set():
        st.rerun()
    st.caption("Recording this run in the run store...")


def record_ui(outcome: cnn.Outcome) -> None:
    if not outcome.recorded.is_set():
        recording_ui(outcome)
    elif outcome.run_id:
        st.caption(f"Recorded as run `{outcome.run_id}`: reload it with `?run={outcome.run_id}`.")
    elif outcome.not_recorded:
        st.warning(f"Not recorded: {outcome.not_recorded} The model below still works.")


def mistakes_ui(outcome: cnn.Outcome) -> None:
    pictures, captions, wrong = cnn.mistakes(outcome)
    if not wrong:
        st.success("No test image was misclassified.")
        return
    st.caption(f"{wrong} of {len(outcome.splits[2])} test images misclassified (first 24 shown).")
    st.image(pictures, caption=captions, width=110)


def gradcam_ui(outcome: cnn.Outcome, key: str) -> None:
    pick = st.number_input("Test image #", 0, len(outcome.splits[2]) - 1, 0, key=f"{key}_cam")
    picture, overlay, true, predicted = cnn.explain(outcome, pick)
    c1, c2 = st.columns(2)
    c1.image(picture, caption=f"true: {true}")
    c2.image(overlay, caption=f"predicted: {predicted} (red: what the prediction leaned on)")


def try_ui(model: vision.Classifier, key: str) -> None:
    st.caption(model.expected_input())
    c1, c2 = st.columns(2)
    up = c1.file_uploader("An image", type=IMAGE_TYPES, key=f"{key}_try")
    invert = c1.toggle("Invert (dark on light -> light on dark)", key=f"{key}_invert")
    snap = (
        c2.camera_input("Or a camera snapshot", key=f"{key}_camera")
        if c2.toggle("Use the camera", key=f"{key}_use_camera")
        else None
    )
    if (source := up or snap) is None or ui.upload_bytes(source) is None:
        return
    try:
        image = vision.prepare_image(
            Image.open(source), model.config.in_channels, model.config.image_size, invert
        )
    except (UnidentifiedImageError, OSError) as err:
        st.error(f"That file is not an image this page can read ({type(err).__name__}).")
        return
    st.image(
        vision.picture(image, max(1, 128 // model.config.image_size)),
        caption="as the model sees it",
    )
    for name, p in vision.top_k(model.model, image, model.classes):
        st.progress(p, text=f"{name}: {p:.1%}")


def export_ui(model: vision.Classifier, key: str) -> None:
    """Files made when clicked, not on every rerun."""
    c1, c2, c3 = st.columns(3)
    weights = lambda: vision.export_safetensors(model)[0]  # noqa: E731
    meta = lambda: vision.export_safetensors(model)[1]  # noqa: E731
    onnx = lambda: vision.export_onnx(model.model, model.config)  # noqa: E731
    for col, label, content, name in (
        (c1, "Weights (.safetensors)", weights, "cnn.safetensors"),
        (c2, "Classes and preprocessing (.json)", meta, "cnn.json"),
        (c3, "Model (.onnx)", onnx, "cnn.onnx"),
    ):
        col.download_button(label, content, name, key=f"{key}_dl_{name}", on_click="ignore")


def loader_ui(ds: data.ImageTensors | None, device: str) -> None:
    """Load a model back: from a recorded run (`?run=<id>` or the picker) or from files. Behind
    a toggle, so the run store is read only when asked."""
    st.divider()
    linked = st.query_params.get(RUN)
    if linked and st.session_state.get("cnn_linked_run") != linked:  # a new link opens it once
        st.session_state["cnn_load"] = True
        st.session_state["cnn_linked_run"] = linked
    if not st.toggle("Load a model", key="cnn_load"):
        return
    from_run, from_files = st.tabs(["From a recorded run", "From files"])
    with from_run:
        run_ui(ds, device)
    with from_files:
        files_ui()


def run_ui(ds: data.ImageTensors | None, device: str) -> None:
    try:
        listed = runs.list_runs(tool=cnn.TOOL, limit=50)
    except runs.StoreError as err:
        st.warning(f"The run store cannot be read: {err}")
        return
    ids = [r.id for r in listed]
    wanted = st.query_params.get(RUN)
    labels = {r.id: f"{r.name} - {r.headline_text} - {r.start:%Y-%m-%d %H:%M}" for r in listed}
    pick = st.selectbox(
        "Recorded run",
        [None, *ids],
        index=ids.index(wanted) + 1 if wanted in ids else 0,
        format_func=lambda i: "Pick a run" if i is None else labels[i],
        key="cnn_run_pick",
    )
    run_id = pick or wanted
    if run_id is None:
        return
    held = st.session_state.setdefault("cnn_loaded_runs", {})  # run id -> RecordedModel
    try:
        recorded = held[run_id] = held.get(run_id) or cnn.load_run(run_id)
    except (runs.StoreError, ValueError) as err:
        st.error(f"Cannot load run {run_id}: {err}")
        return
    if ds is not None and recorded.params["data"]["label"] == ds.describe():
        key = ("outcome", run_id, ds.describe())
        held[key] = held.get(key) or cnn.outcome_of(recorded, ds)
        outcome_ui(held[key], ds, device, "run")
        return
    st.caption(
        f"Run {run_id}: trained on {recorded.params['data']['label']}; test accuracy "
        f"{units.percent(recorded.metrics['test_accuracy'])}. Pick that data above for its "
        "full diagnostics."
    )
    if per_class := recorded.tables.get("per_class"):
        st.dataframe(per_class, hide_index=True)
    try_ui(recorded.classifier, "run")


def files_ui() -> None:
    c1, c2 = st.columns(2)
    w = c1.file_uploader("Weights (.safetensors)", type=["safetensors"], key="cnn_load_w")
    m = c2.file_uploader("Its .json", type=["json"], key="cnn_load_m")
    if w is None or m is None or (weights := ui.upload_bytes(w)) is None:
        return
    if (meta := ui.upload_bytes(m)) is None:
        return
    try:
        model = vision.load_safetensors(weights, meta.decode("utf-8", "replace"))
    except ValueError as err:
        st.error(str(err))
        return
    cfg = model.config
    st.success(
        f"Loaded: {cfg.describe()}, {len(model.classes)} classes, "
        f"{cfg.image_size}x{cfg.image_size}."
    )
    try_ui(model, "loaded")


ui.require_navigation()
st.title("Train a CNN")
st.caption(
    "Train an image classifier on the hardware in front of you: data live on the device, "
    "curves update as it learns, Stop keeps the best model so far."
)
device = ui.session_device()
cnn.warm()
ds = data_ui(device)
if ds is not None:
    preview_ui(ds)
    try:
        model_cfg, train_cfg = settings_ui(ds)
    except ValueError as err:
        st.error(str(err))
        st.stop()
    train_ui(cnn.Request(data=ds, model=model_cfg, train=train_cfg), device)
    cluster.run_elsewhere_ui(
        "cnn", train.cnn_run_config(ds, model_cfg, train_cfg), key="cnn_elsewhere"
    )
loader_ui(ds, device)
