"""Train a CNN: pick data (built-in digits, a torchvision download, or your own .zip), train
with live curves and Stop, then read the diagnostics, try the model and export it.

Widgets -> CNNConfig / TrainConfig -> a `core.jobs` worker running
`core.vision.train_classifier` -> a fragment polls its metrics and draws them.
"""

import streamlit as st

import ui
from core import cache, charts, costs, data, jobs, optimizers, units, vision
from core import device as dev

ui.require_navigation()
st.title("Train a CNN")
st.caption(
    "Train an image classifier on the hardware in front of you: data live on the device, "
    "curves update as it learns, Stop keeps the best model so far."
)
JOB, RESULT, UPLOAD, FETCH = "cnn_job", "cnn_result", "cnn_upload", "cnn_fetch_job"
SOURCES = ["Built-in digits (offline)", "Download a classic set", "Your images (.zip)"]
device = ui.session_device()


def data_ui():
    """The chosen data set on the device, or None (with a message) until there is one."""
    source = st.radio("Data", SOURCES, horizontal=True, key="cnn_source")
    if source == SOURCES[0]:
        return cache.digits(device)
    if source == SOURCES[1]:
        return download_ui()
    return upload_ui()


def download_ui():
    specs = data.downloads()
    name = st.selectbox(
        "Data set",
        list(specs),
        key="cnn_download",
        format_func=lambda n: f"{n} ({specs[n].size_mb:.0f} MB download)",
    )
    job = st.session_state.get(FETCH)
    if job is not None and job.running:
        fetch_progress()
        return None
    if job is not None and job.status == "failed":
        st.error(job.error.split(": ", 1)[-1])
    if job is None or job.status != "done" or job.result != name:
        st.caption(f"Saved under {data.data_root()} after the first download.")
        if st.button(f"Download {name}", key="cnn_fetch"):
            target = lambda ctx: _fetch(name, ctx)  # noqa: E731
            st.session_state[FETCH] = jobs.Job(target, f"download {name}").start()
            st.rerun()
        return None
    try:
        return cache.downloaded(name, device)
    except data.DataError as err:
        st.error(str(err))
        return None


def _fetch(name: str, ctx) -> str:
    data.fetch_download(name, ctx.report, ctx.should_stop)
    return name


@st.fragment(run_every=1.0)
def fetch_progress() -> None:
    job = st.session_state[FETCH]
    if not job.running:
        st.rerun()
    st.progress(job.progress, text=f"Downloading {job.message}")
    if st.button("Stop download", key="cnn_fetch_stop"):
        job.stop()


def upload_ui():
    size = st.select_slider("Resize images to", [16, 24, 32, 48, 64], 32, key="cnn_size")
    up = st.file_uploader(
        "A .zip with one folder per class",
        type=["zip"],
        key="cnn_zip",
        help="e.g. cats/001.jpg, dogs/002.png ... (max "
        f"{data.limits.MAX_UPLOAD_MB} MB, {data.limits.MAX_ZIP_FILES:,} files)",
    )
    if up is None:
        st.info("Upload a .zip to train on your own images; the built-in digits work meanwhile.")
        return None
    key = (up.file_id, size)
    held = st.session_state.get(UPLOAD)
    if held is None or held[0] != key:
        try:
            with st.spinner("Reading the archive..."):
                ds, report = data.load_zip(up.getvalue(), device, size)
        except data.DataError as err:
            st.error(str(err))
            return None
        held = st.session_state[UPLOAD] = (key, ds, report)
    _, ds, report = held
    if report.skipped:
        with st.expander(f"{len(report.skipped)} file(s) skipped"):
            st.dataframe([{"File": f, "Why": why} for f, why in report.skipped], hide_index=True)
    if report.converted or report.resized:
        modes = ", ".join(f"{n} {m}" for m, n in report.converted.items())
        st.caption(f"Converted: {modes or 'none'}; resized to {size}x{size}: {report.resized}.")
    return ds


def settings_ui(ds) -> tuple[vision.CNNConfig, vision.TrainConfig]:
    c, h, w = ds.shape
    small = h <= 16
    c1, c2, c3, c4 = st.columns(4)
    blocks = c1.slider("Conv blocks", 1, 4, 2, key="cnn_blocks")
    width = c1.select_slider(
        "Width (channels)", [8, 16, 24, 32, 48, 64, 96, 128], 24, key="cnn_width"
    )
    opt = c2.selectbox("Optimizer", list(optimizers.REGISTRY), index=7, key="cnn_opt")
    lr = c2.number_input("Learning rate", 1e-6, 10.0, 1e-2, format="%.0e", key="cnn_lr")
    batch = c3.select_slider("Batch size", [16, 32, 64, 128, 256, 512, 1024], 128, key="cnn_batch")
    epochs = c3.number_input("Epochs", 1, 500, 15, key="cnn_epochs")
    schedule = c4.radio("Schedule", ["one-cycle", "constant"], key="cnn_schedule")
    seed = c4.number_input("Seed", 0, 10**6, 0, key="cnn_seed")
    with st.expander("Regularisation, augmentation, early stopping"):
        e1, e2, e3, e4 = st.columns(4)
        bn = e1.toggle("Batch norm", True, key="cnn_bn")
        dropout = e1.slider("Dropout", 0.0, 0.8, 0.1, 0.05, key="cnn_dropout")
        smoothing = e2.slider("Label smoothing", 0.0, 0.3, 0.0, 0.05, key="cnn_smooth")
        decay = e2.number_input("Weight decay", 0.0, 1.0, 5e-4, format="%.0e", key="cnn_decay")
        flip = e3.toggle(
            "Random flips",
            not small,
            key="cnn_flip",
            help="Off for digits and text: a flipped 2 is not a 2.",
        )
        shift = e3.slider("Random shift (pixels)", 0, 4, 1 if small else 2, key="cnn_shift")
        patience = e4.number_input(
            "Early-stop patience (epochs, 0 = off)", 0, 100, 8, key="cnn_patience"
        )
    model_cfg = vision.CNNConfig(c, len(ds.classes), h, blocks, width, bn, dropout)
    train_cfg = vision.TrainConfig(
        opt, lr, batch, epochs, schedule, smoothing, decay, patience, seed, flip, shift
    )
    return model_cfg, train_cfg


def start_training(ds, model_cfg, train_cfg) -> None:
    splits = data.split(ds.y, train_cfg.seed)
    target = lambda ctx: vision.train_classifier(ds, splits, model_cfg, train_cfg, ctx)  # noqa: E731
    meta = {"data": ds, "splits": splits, "model_cfg": model_cfg, "train_cfg": train_cfg}
    job = jobs.Job(target, "train cnn", meta=meta).start()
    st.session_state[JOB] = job
    st.session_state.pop(RESULT, None)


@st.fragment(run_every=2.0)
def training_progress() -> None:
    """Progress, ETA, images/s and live curves while the worker trains. Kept light (a poll a
    second, Streamlit's own line charts): each poll takes Python time from the training
    thread."""
    job = st.session_state[JOB]
    if not job.running:
        st.rerun()
    rows = job.metrics()
    speed = f", {rows[-1]['images_per_s']:,.0f} images/s" if rows else ""
    eta = f", about {job.eta:.0f} s left" if job.eta is not None else ""
    st.progress(job.progress, text=f"{job.message or 'Starting'}{speed}{eta}")
    if rows:
        left, right = st.columns(2)
        table = {
            k: [r[k] for r in rows]
            for k in ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy")
        }
        left.line_chart(table, x="epoch", y=["train_loss", "val_loss"], height=260)
        right.line_chart(table, x="epoch", y=["train_accuracy", "val_accuracy"], height=260)


def finish(job) -> dict | None:
    """Turn a finished job into the session's result (once)."""
    if job.status == "failed":
        st.error(f"Training failed: {job.error}")
        with st.expander("Details"):
            st.code(job.details)
        return None
    result = st.session_state.get(RESULT)
    if result is None or result["job"] is not job:
        meta = job.meta
        ev = vision.evaluate(job.result.model, meta["data"], meta["splits"][2])
        result = st.session_state[RESULT] = {"job": job, "evaluation": ev, **meta}
    return result


def results_ui(res: dict) -> None:
    r, ev, ds = res["job"].result, res["evaluation"], res["data"]
    if r.reason in ("diverged", "out of memory"):
        st.error(r.message)
    elif r.message:
        st.info(r.message)
    if not r.history:
        return
    rate, what = costs.hardware_rate(device, dev.probe_hardware().gpu_name, dev.cpu_threads())
    cols = st.columns(5)
    cols[0].metric(
        "Test accuracy", units.percent(ev.accuracy), help=f"{len(res['splits'][2])} held-out images"
    )
    cols[1].metric("Best epoch", f"{r.best_epoch} of {len(r.history)}")
    cols[2].metric("Wall time", f"{r.seconds:.1f} s")
    cols[3].metric("Images per second", f"{r.images_per_s:,.0f}")
    cols[4].metric("Cost of this run", units.usd(rate * r.seconds / 3600), help=what)
    st.plotly_chart(charts.training_curves([vars(e) for e in r.history]), key="final_curves")
    tabs = st.tabs(["Confusion and per-class", "Mistakes", "Why (Grad-CAM)", "Try it", "Export"])
    with tabs[0]:
        left, right = st.columns([3, 2])
        left.plotly_chart(charts.confusion(ev.confusion, ds.classes), key="confusion_chart")
        right.dataframe(
            [
                {"Class": c, "Precision": round(p, 3), "Recall": round(q, 3)}
                for c, p, q in zip(ds.classes, ev.precision, ev.recall, strict=True)
            ],
            hide_index=True,
        )
    with tabs[1]:
        mistakes_ui(res)
    with tabs[2]:
        gradcam_ui(res)
    with tabs[3]:
        try_ui(r.model, res["model_cfg"], ds.classes)
    with tabs[4]:
        export_ui(r.model, res["model_cfg"], ds.classes)


def mistakes_ui(res) -> None:
    ev, ds, test = res["evaluation"], res["data"], res["splits"][2]
    wrong = [i for i, p in enumerate(ev.predicted) if p != int(ds.y[test[i]])]
    if not wrong:
        st.success("No test image was misclassified.")
        return
    st.caption(f"{len(wrong)} of {len(test)} test images misclassified (first 24 shown).")
    shown = wrong[:24]
    scale = max(1, 96 // ds.shape[1])
    st.image(
        [vision.picture(ds.floats(test[i : i + 1])[0], scale) for i in shown],
        caption=[
            f"true {ds.classes[int(ds.y[test[i]])]} -> {ds.classes[ev.predicted[i]]} "
            f"({ev.confidence[i]:.0%})"
            for i in shown
        ],
        width=110,
    )


def gradcam_ui(res) -> None:
    ds, test, model = res["data"], res["splits"][2], res["job"].result.model
    pick = st.number_input("Test image #", 0, len(test) - 1, 0, key="cnn_cam_pick")
    image = ds.floats(test[pick : pick + 1])[0].cpu()
    cam, predicted = vision.grad_cam(model, image)
    scale = max(1, 192 // ds.shape[1])
    c1, c2 = st.columns(2)
    c1.image(vision.picture(image, scale), caption=f"true: {ds.classes[int(ds.y[test[pick]])]}")
    c2.image(
        vision.cam_overlay(image, cam, scale),
        caption=f"predicted: {ds.classes[predicted]} (red: what the prediction leaned on)",
    )


def try_ui(model, cfg, classes) -> None:
    c1, c2 = st.columns(2)
    up = c1.file_uploader(
        "An image", type=["png", "jpg", "jpeg", "bmp", "gif", "webp"], key="cnn_try"
    )
    snap = (
        c2.camera_input("Or a camera snapshot", key="cnn_camera")
        if c2.toggle("Use the camera", key="cnn_use_camera")
        else None
    )
    source = up or snap
    if source is None:
        return
    from PIL import Image, UnidentifiedImageError

    try:
        image = vision.prepare_image(Image.open(source), cfg.in_channels, cfg.image_size)
    except (UnidentifiedImageError, OSError) as err:
        st.error(f"That file is not an image this page can read ({type(err).__name__}).")
        return
    st.image(vision.picture(image, max(1, 128 // cfg.image_size)), caption="as the model sees it")
    for name, p in vision.top_k(model, image, tuple(classes)):
        st.progress(p, text=f"{name}: {p:.1%}")


def export_ui(model, cfg, classes) -> None:
    weights, meta = vision.export_safetensors(model, cfg, classes)
    c1, c2, c3 = st.columns(3)
    c1.download_button("Weights (.safetensors)", weights, "cnn.safetensors", key="dl_weights")
    c2.download_button("Classes and preprocessing (.json)", meta, "cnn.json", key="dl_meta")
    if c3.button("Build ONNX file", key="cnn_onnx"):
        with st.spinner("Exporting to ONNX..."):
            st.session_state["cnn_onnx_bytes"] = vision.export_onnx(model, cfg)
    if st.session_state.get("cnn_onnx_bytes"):
        c3.download_button(
            "Download model.onnx", st.session_state["cnn_onnx_bytes"], "cnn.onnx", key="dl_onnx"
        )


def load_saved_ui() -> None:
    with st.expander("Load a saved model"):
        c1, c2 = st.columns(2)
        w = c1.file_uploader("Weights (.safetensors)", type=["safetensors"], key="cnn_load_w")
        m = c2.file_uploader("Its .json", type=["json"], key="cnn_load_m")
        if w is None or m is None:
            return
        try:
            model, cfg, classes = vision.load_safetensors(
                w.getvalue(), m.getvalue().decode("utf-8", "replace")
            )
        except ValueError as err:
            st.error(str(err))
            return
        kind = "grayscale" if cfg.in_channels == 1 else "colour"
        st.success(
            f"Loaded: {cfg.blocks} blocks x {cfg.width} channels, {len(classes)} classes, "
            f"{cfg.image_size}x{cfg.image_size} {kind}."
        )
        try_ui(model, cfg, classes)


ds = data_ui()
if ds is not None:
    st.caption(
        f"{ds.name}: {len(ds.y):,} images, {len(ds.classes)} classes "
        f"({', '.join(ds.classes[:12])}{' ...' if len(ds.classes) > 12 else ''}), "
        f"{ds.shape[0]}x{ds.shape[1]}x{ds.shape[2]}, on {ds.device}; split 70/15/15 "
        "by class."
    )
    firsts = [int((ds.y == c).nonzero()[0]) for c in range(min(len(ds.classes), 12))]
    st.image(
        [
            vision.picture(ds.floats(ds.y.new_tensor([i]))[0], max(1, 48 // ds.shape[1]))
            for i in firsts
        ],
        caption=[ds.classes[c] for c in range(len(firsts))],
        width=56,
    )
    try:
        model_cfg, train_cfg = settings_ui(ds)
    except ValueError as err:
        st.error(str(err))
        st.stop()
    job = st.session_state.get(JOB)
    running = job is not None and job.running
    b1, b2, _ = st.columns([1, 1, 4])
    if b1.button("Train", type="primary", disabled=running, key="cnn_train"):
        start_training(ds, model_cfg, train_cfg)
        st.rerun()
    if b2.button("Stop", disabled=not running, key="cnn_stop"):
        job.stop()
    if job is not None and job.running:
        training_progress()
    elif job is not None:
        res = finish(job)
        if res is not None:
            results_ui(res)
load_saved_ui()
