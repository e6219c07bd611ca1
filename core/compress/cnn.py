"""Ways to make the app's CNN (core.vision.model) smaller or faster, each giving a `Built`:
what to run, its files, its size.

    onnx_fp32      ONNX Runtime on the exported graph (no change to the weights)
    int8_static    ONNX Runtime static int8: QDQ, activations QUInt8, weights QInt8 per channel,
                   calibrated on training images (never S8S8 QOperator: slow on x86)
    structured     remove channels: torch.nn.utils.prune.ln_structured picks them, a narrower
                   network is rebuilt with the kept ones, then fine-tuned briefly
    unstructured   global magnitude pruning: zeros in dense tensors, which shrink nothing and
                   speed nothing unless stored sparse (pytorch #32928)
    distil         a narrower student trained on the teacher's softened outputs (T, alpha)
    fp16_cuda      half precision on a GPU; Skipped on a CPU
"""

from __future__ import annotations

import copy
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from core.vision.data import ImageTensors
from core.vision.export import export_onnx, export_safetensors
from core.vision.model import Classifier


class Skipped(Exception):
    """A method that does not apply here (its message says why)."""


class CompressError(ValueError):
    """A method that cannot run on this input (its message says what to change)."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The knobs of every CNN method, with defaults that finish in well under a minute on the
    digits."""

    calibration_images: int = 128
    prune_amount: float = 0.5  # share of each conv's channels removed (structured)
    finetune_epochs: int = 8
    sparsity: float = 0.5  # share of weights zeroed (unstructured)
    student_width: int = 8
    temperature: float = 4.0
    alpha: float = 0.7  # weight of the teacher's soft targets; 1 - alpha on the labels
    distil_epochs: int = 60
    student_from_teacher: bool = True  # start from the teacher's strongest channels
    lr: float = 1e-2  # peak of a one-cycle schedule (half of it for fine-tuning)
    seed: int = 0


@dataclass(frozen=True, kw_only=True)
class Context:
    """The original and the data to calibrate, fine-tune and test on (splits: train, val,
    test indices)."""

    classifier: Classifier
    data: ImageTensors
    splits: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    threads: int
    device: str = "cpu"
    shift: int = 1  # augmentation while fine-tuning, as the original was trained
    flip: bool = False
    should_stop: Callable[[], bool] = lambda: False


@dataclass(frozen=True, kw_only=True)
class Built:
    """A variant ready to measure."""

    method: str
    engine: str
    precision: str
    run: Callable[[torch.Tensor], np.ndarray]  # (B, C, H, W) floats in [0, 1] -> logits
    files: dict[str, bytes] = field(default_factory=dict)  # name -> content (the download)
    params: int = 0
    nonzero_params: int | None = None
    memory_bytes: int = 0
    notes: str = ""
    model: nn.Module | None = None  # the torch model, where there is one

    @property
    def file_bytes(self) -> int:
        """The model file's bytes (weights; the JSON beside safetensors is not counted)."""
        return sum(len(v) for k, v in self.files.items() if not k.endswith(".json"))


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def weight_bytes(model: nn.Module) -> int:
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def torch_built(ctx: Context, model: nn.Module, method: str, notes: str = "") -> Built:
    """A torch eager variant with safetensors + JSON as its files."""
    model = model.eval()
    width = model[1].out_channels
    cfg = replace(ctx.classifier.config, width=width)
    weights, meta = export_safetensors(replace(ctx.classifier, model=model, config=cfg))

    @torch.inference_mode()
    def run(x: torch.Tensor) -> np.ndarray:
        return model(x).numpy()

    nonzero = sum(int((p != 0).sum()) for p in model.parameters())
    return Built(
        method=method,
        engine="torch eager",
        precision="fp32",
        run=run,
        files={"model.safetensors": weights, "model.json": meta},
        params=count(model),
        nonzero_params=nonzero,
        memory_bytes=weight_bytes(model),
        notes=notes,
        model=model,
    )


def original(ctx: Context) -> Built:
    return torch_built(ctx, ctx.classifier.model, "original")


def session(onnx_bytes: bytes, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    # no busy-waiting threads between calls: spinning, they took the cores from torch in the
    # side-by-side loop (the original measured 30-400x slower beside ONNX Runtime than alone)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])


def ort_built(ctx: Context, onnx_bytes: bytes, method: str, precision: str) -> Built:
    sess = session(onnx_bytes, ctx.threads)

    def run(x: torch.Tensor) -> np.ndarray:
        return sess.run(None, {"image": x.numpy()})[0]

    return Built(
        method=method,
        engine="ONNX Runtime",
        precision=precision,
        run=run,
        files={"model.onnx": onnx_bytes},
        params=count(ctx.classifier.model),
        memory_bytes=len(onnx_bytes),
    )


def _onnx(ctx: Context) -> bytes:
    try:
        return export_onnx(ctx.classifier.model, ctx.classifier.config)
    except Exception as err:
        raise CompressError(f"The ONNX export failed ({type(err).__name__}: {err}).") from None


def onnx_fp32(ctx: Context, s: Settings) -> Built:
    return ort_built(ctx, _onnx(ctx), "ONNX Runtime fp32", "fp32")


class _Reader:
    """onnxruntime.quantization's CalibrationDataReader over training images."""

    def __init__(self, images: torch.Tensor) -> None:
        self.rows = iter(images.split(1))

    def get_next(self):
        row = next(self.rows, None)
        return None if row is None else {"image": row.numpy()}

    def rewind(self):  # pragma: no cover - not used by MinMax calibration
        pass


def _short(k: int) -> str:
    """0, 1, ... z, 10, 11, ...: the k-th short name (base 36)."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    name = digits[k % 36]
    while k := k // 36:
        name = digits[k % 36] + name
    return name


def compact(onnx_bytes: bytes) -> bytes:
    """The same graph in fewer bytes: every tensor renamed to a short name (the input 'image'
    and the output 'logits' kept), node names, doc strings and shape annotations (value_info,
    which ONNX Runtime infers again) dropped, and the optional all-zero int32 zero points of
    quantized biases (zero by definition) left out. On the digits CNN the names alone were
    about 15 % of the int8 file; the weights and the computation are untouched."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(onnx_bytes)
    g = model.graph
    keep = {v.name for v in (*g.input, *g.output)}
    names: dict[str, str] = {}

    def rename(name: str) -> str:
        if not name or name in keep:
            return name
        return names.setdefault(name, _short(len(names)))

    inits = {i.name: i for i in g.initializer}
    for node in g.node:
        zero = inits.get(node.input[2]) if len(node.input) == 3 else None
        if (
            node.op_type == "DequantizeLinear"
            and zero is not None
            and zero.data_type == onnx.TensorProto.INT32
            and not numpy_helper.to_array(zero).any()
        ):
            del node.input[2]
        node.input[:] = [rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
        node.name = node.doc_string = ""
    used = {n for node in g.node for n in node.input}
    kept = [i for i in g.initializer if rename(i.name) in used]
    for i in kept:
        i.name, i.doc_string = rename(i.name), ""
    del g.initializer[:], g.value_info[:]
    g.initializer.extend(kept)
    model.doc_string = g.doc_string = ""
    return model.SerializeToString()


def int8_static(ctx: Context, s: Settings) -> Built:
    """Static int8 (QDQ, U8 activations, S8 weights per channel) calibrated on training images."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if s.calibration_images < 1:
        raise CompressError("Static int8 needs at least one calibration image; 0 were asked.")
    train = ctx.splits[0][: s.calibration_images]
    if len(train) == 0:
        raise CompressError("Static int8 needs calibration images; the training split is empty.")
    with tempfile.TemporaryDirectory() as tmp:
        fp32, pre, out = (Path(tmp) / n for n in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        fp32.write_bytes(_onnx(ctx))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
            quantize_static(
                str(pre),
                str(out),
                _Reader(ctx.data.floats(train).cpu()),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
            )
        onnx_bytes = compact(out.read_bytes())
    built = ort_built(ctx, onnx_bytes, "static int8", "int8 (QDQ U8S8, per channel)")
    note = f"Calibrated on {len(train)} training images; tensor names shortened (a smaller file)."
    return replace(built, notes=note)


def unstructured(ctx: Context, s: Settings) -> Built:
    """Global magnitude pruning of conv and linear weights to `s.sparsity` zeros."""
    model = copy.deepcopy(ctx.classifier.model)
    layers = [(m, "weight") for m in model if isinstance(m, nn.Conv2d | nn.Linear)]
    prune.global_unstructured(layers, pruning_method=prune.L1Unstructured, amount=s.sparsity)
    for m, name in layers:
        prune.remove(m, name)
    note = (
        f"{s.sparsity:.0%} of the weights are zero, stored dense: the file and the speed are "
        "unchanged unless stored sparse."
    )
    return torch_built(ctx, model, f"unstructured {s.sparsity:.0%}", note)


def fp16_cuda(ctx: Context, s: Settings) -> Built:
    """Half precision on CUDA; Skipped elsewhere (fp16 convolutions on a CPU are slower)."""
    if ctx.device != "cuda" or not torch.cuda.is_available():
        raise Skipped("fp16 runs on a CUDA GPU only; this run is on the CPU.")
    model = copy.deepcopy(ctx.classifier.model).half().cuda().eval()

    @torch.inference_mode()
    def run(x: torch.Tensor) -> np.ndarray:
        out = model(x.cuda(non_blocking=True).half()).float().cpu().numpy()
        torch.cuda.synchronize()
        return out

    weights, meta = export_safetensors(replace(ctx.classifier, model=model.float().cpu()))
    model.half().cuda()
    return Built(
        method="fp16 (CUDA)",
        engine="torch eager, CUDA",
        precision="fp16",
        run=run,
        files={"model.safetensors": weights, "model.json": meta},
        params=count(model),
        memory_bytes=weight_bytes(model),
        model=model,
    )
