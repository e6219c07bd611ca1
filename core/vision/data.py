"""Image data sets as tensors already on the device: built-in digits, torchvision downloads,
and a user's .zip of class folders.

`ImageTensors` holds a whole data set as one (N, C, H, W) uint8 tensor and one (N,) label
tensor, so training takes batches as index slices with no DataLoader; `floats(idx)` gives
a batch in [0, 1]. Uploaded archives are read defensively (zip slip, zip bombs, files that
are not images, odd image modes) and every skipped file is reported with its reason.

torchvision and scikit-learn are imported inside the functions that need them, on purpose:
most sessions train on the built-in digits and never download, and scikit-learn is needed
once, to read the digits.
"""

from __future__ import annotations

import hashlib
import io
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image

from core import limits, paths
from core.progress import QUIET, Progress

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


class DataError(ValueError):
    """A data set that cannot be used, with a message for the user."""


@dataclass(frozen=True, kw_only=True)
class ImageTensors:
    """A labelled image set resident on one device; shared read-only between sessions."""

    name: str  # e.g. "digits"
    x: torch.Tensor  # (N, C, H, W) uint8, 0..255
    y: torch.Tensor  # (N,) int64 class indices
    classes: tuple[str, ...]  # class names, indexed by y

    @property
    def nbytes(self) -> int:
        """Bytes the tensors occupy on their device."""
        return self.x.element_size() * self.x.nelement() + self.y.element_size() * self.y.nelement()

    @property
    def device(self) -> str:
        """'cuda', 'mps' or 'cpu'."""
        return self.x.device.type

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.x.shape[1:])

    def describe(self) -> str:
        """'digits: 1,797 images, 10 classes (0, 1, ...), 1x8x8': what a result was trained on."""
        names = ", ".join(self.classes[:12]) + (" ..." if len(self.classes) > 12 else "")
        c, h, w = self.shape
        size = f"{len(self.y):,} images, {len(self.classes)} classes ({names}), {c}x{h}x{w}"
        return f"{self.name}: {size}"

    def floats(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        """Images `idx` (all by default) as float32 in [0, 1], on the data's device."""
        x = self.x if idx is None else self.x[idx]
        return x.float().div_(255)


def _to_device(name, x: np.ndarray, y: np.ndarray, classes, device: str) -> ImageTensors:
    xt = torch.from_numpy(np.ascontiguousarray(x)).to(device)
    return ImageTensors(
        name=name, x=xt, y=torch.from_numpy(y.astype(np.int64)).to(device), classes=tuple(classes)
    )


def load_digits(device: str) -> ImageTensors:
    """scikit-learn's 8x8 digits (1,797 real images, 10 classes, shipped offline) on `device`."""
    from sklearn.datasets import load_digits as sklearn_digits  # lazy: see the module docstring

    bunch = sklearn_digits()
    x = np.rint(bunch.images * (255 / 16)).astype(np.uint8)[:, None]  # pixel values 0..16
    return _to_device("digits", x, bunch.target, [str(c) for c in bunch.target_names], device)


# ---- torchvision downloads ----------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    """A torchvision data set and the files it needs."""

    name: str
    size_mb: float  # download size, MB
    files: tuple[tuple[tuple[str, ...], str, str], ...]  # (urls to try, path under root, md5)


def _mnist_like(cls_name: str, folder: str) -> tuple:
    from torchvision import datasets  # lazy: see the module docstring

    cls = getattr(datasets, cls_name)
    return tuple(
        (tuple(m + fname for m in cls.mirrors), f"{folder}/raw/{fname}", md5)
        for fname, md5 in cls.resources
    )


def downloads() -> dict[str, Download]:
    """The downloadable sets (torchvision's own URLs and checksums)."""
    from torchvision import datasets  # lazy: see the module docstring

    c = datasets.CIFAR10
    return {
        "MNIST": Download("MNIST", 11.6, _mnist_like("MNIST", "MNIST")),
        "Fashion-MNIST": Download(
            "Fashion-MNIST", 30.9, _mnist_like("FashionMNIST", "FashionMNIST")
        ),
        "CIFAR-10": Download("CIFAR-10", 170.5, (((c.url,), c.filename, c.tgz_md5),)),
    }


def data_root() -> Path:
    """Where downloads are kept: $DASHBOARD_DATA or $DASHBOARD_HOME/datasets."""
    return paths.data_dir()


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(
    urls: tuple[str, ...],
    dest: Path,
    md5: str | None,
    progress: Progress = QUIET,
    share: tuple[int, int] = (0, 1),
    timeout: float = 20.0,
) -> Path:
    """Download the first of `urls` that works to `dest` (kept if already there with the
    right checksum). Reports to `progress` as file `share[0]` of `share[1]`, in MiB/s, and
    stops when it says so. Raises DataError when none works."""
    if dest.exists() and (md5 is None or _md5(dest) == md5):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:
        part = dest.with_suffix(dest.suffix + ".part")
        try:
            _stream(url, part, progress, share, timeout)
            if md5 is not None and _md5(part) != md5:
                raise DataError(f"{url} sent a file with the wrong checksum.")
            part.replace(dest)
            return dest
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            errors.append(f"{url}: {getattr(err, 'reason', err)}")
        finally:
            part.unlink(missing_ok=True)
    raise DataError(
        f"Could not download {dest.name} (no network?). Tried: {'; '.join(errors)}. "
        "The built-in digits and your own uploaded images still work offline."
    )


def _stream(
    url: str, part: Path, progress: Progress, share: tuple[int, int], timeout: float
) -> None:
    """Copy `url` into the file `part`, reporting progress and speed to `progress`."""
    i, n = share
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as f:
        total, done = int(response.headers.get("Content-Length") or 0), 0
        while chunk := response.read(1 << 16):
            if progress.should_stop():
                raise DataError("Download stopped.")
            f.write(chunk)
            done += len(chunk)
            mib = f"{done / 2**20:.1f} of {total / 2**20:.1f} MiB"
            speed = done / 2**20 / max(time.perf_counter() - t0, 1e-6)
            progress.report((i + done / max(total, 1)) / n, f"{part.stem}: {mib}", speed, "MiB")


def fetch_download(name: str, progress: Progress = QUIET) -> Path:
    """Download the files of torchvision set `name` into `data_root()` (those already there
    are kept), reporting to `progress`. Returns the root folder."""
    spec = downloads().get(name)
    if spec is None:
        raise DataError(f"Unknown data set {name!r}: choose one of {', '.join(downloads())}.")
    root = data_root()
    limits.check_room("datasets", root, int(spec.size_mb * 1e6))  # before, not half-way
    for i, (urls, rel, md5) in enumerate(spec.files):
        fetch(urls, root / rel, md5, progress, (i, len(spec.files)))
    return root


def load_download(name: str, device: str) -> ImageTensors:
    """A torchvision set (train and test pooled; the app splits it) on `device`, downloading
    it first if needed."""
    from torchvision import datasets  # lazy: see the module docstring

    root = fetch_download(name)
    cls = {
        "MNIST": datasets.MNIST,
        "Fashion-MNIST": datasets.FashionMNIST,
        "CIFAR-10": datasets.CIFAR10,
    }[name]
    parts = [cls(str(root), train=train, download=True) for train in (True, False)]
    x = np.concatenate([np.asarray(p.data) for p in parts])
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    y = np.concatenate([np.asarray(p.targets) for p in parts])
    return _to_device(name, x, y, parts[0].classes, device)


# ---- uploaded archives --------------------------------------------------------------------


@dataclass(kw_only=True)
class ZipReport:
    """What reading an archive found, for the page to show."""

    classes: dict[str, int] = field(default_factory=dict)  # images kept per class
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    converted: dict[str, int] = field(default_factory=dict)  # image mode -> count converted
    resized: int = 0  # images whose size differed from the target

    def changes(self, size: int) -> str:
        """'Converted: 3 RGBA; resized to 32x32: 12.', or '' when nothing was changed."""
        if not (self.converted or self.resized):
            return ""
        modes = ", ".join(f"{n} {m}" for m, n in self.converted.items()) or "none"
        return f"Converted: {modes}; resized to {size}x{size}: {self.resized}."


def _is_junk(path: PurePosixPath) -> bool:
    return "__MACOSX" in path.parts or path.name.startswith("._") or path.name == ".DS_Store"


def _check_entries(infos: list[zipfile.ZipInfo], max_files: int, max_total: int) -> None:
    """Refuse archives that escape their folder, hold too many files or expand too far."""
    for info in infos:
        p = PurePosixPath(info.filename.replace("\\", "/"))
        if p.is_absolute() or ".." in p.parts or (p.parts and p.parts[0].endswith(":")):
            raise DataError(f"Refused: the entry {info.filename!r} points outside the archive.")
    files = [i for i in infos if not i.is_dir()]
    if len(files) > max_files:
        raise DataError(f"Refused: {len(files):,} files; the limit is {max_files:,}.")
    total = sum(i.file_size for i in files)
    if total > max_total:
        raise DataError(
            f"Refused: the archive expands to {total / 2**20:,.0f} MiB; the limit is "
            f"{max_total / 2**20:,.0f} MiB."
        )


def _decode(raw: bytes, size: int, channels: int, report: ZipReport):
    """(C, size, size) uint8 array from image bytes; converts modes, resizes."""
    with Image.open(io.BytesIO(raw)) as img:
        img.load()
        mode = img.mode
        if mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(img, dtype=np.uint32)
            img = Image.fromarray((arr >> 8 if arr.max() > 255 else arr).astype(np.uint8))
        target = "L" if channels == 1 else "RGB"
        if img.mode in ("LA", "RGBA", "PA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            base = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(base, rgba)
        if img.mode != target:
            img = img.convert(target)
        if mode not in ("L", "RGB"):
            report.converted[mode] = report.converted.get(mode, 0) + 1
        if img.size != (size, size):
            report.resized += 1
            img = img.resize((size, size), Image.Resampling.BILINEAR)
        arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def _class_of(path: PurePosixPath, root_depth: int) -> str | None:
    parts = path.parts[root_depth:]
    return parts[0] if len(parts) >= 2 else None


def _probe_channels(zf: zipfile.ZipFile, names: list[str]) -> int:
    """1 if every readable image is grayscale, else 3."""
    for name in names:
        try:
            with Image.open(io.BytesIO(zf.read(name))) as img:
                if img.mode not in ("L", "LA", "1", "I;16", "I;16B", "I;16L", "I"):
                    return 3
        except Exception:  # unreadable files are reported when decoded
            continue
    return 1


def _open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, NotImplementedError) as err:  # e.g. "zip file version"
        raise DataError(f"This is not a readable .zip archive ({err}).") from None


def _image_entries(
    infos: list[zipfile.ZipInfo], report: ZipReport
) -> list[tuple[str, PurePosixPath]]:
    """(name in the archive, its path) of every file that may be an image; the rest go to
    the report's skipped list."""
    files = []
    for info in infos:
        p = PurePosixPath(info.filename.replace("\\", "/"))
        if info.is_dir():
            continue
        if _is_junk(p):
            report.skipped.append((info.filename, "macOS metadata, not an image"))
        elif p.suffix.lower() not in IMAGE_EXTENSIONS:
            report.skipped.append((info.filename, "not an image file"))
        else:
            files.append((info.filename, p))
    if not files:
        raise DataError("The archive holds no images (.png, .jpg, .bmp, .gif, .tif, .webp).")
    return files


def _read_images(zf: zipfile.ZipFile, files: list, size: int, report: ZipReport):
    """([(C, size, size) uint8 arrays], [class names]) of the images in their class folders."""
    tops = {p.parts[0] for _, p in files}
    depth = 1 if len(tops) == 1 and all(len(p.parts) >= 3 for _, p in files) else 0
    channels = _probe_channels(zf, [n for n, _ in files[:200]])
    images, labels = [], []
    for name, p in files:
        cls = _class_of(p, depth)
        if cls is None:
            report.skipped.append((name, "not inside a class folder"))
            continue
        try:
            images.append(_decode(zf.read(name), size, channels, report))
        except Exception as err:  # PIL raises many kinds for a broken file
            report.skipped.append((name, f"cannot be decoded ({type(err).__name__})"))
            continue
        labels.append(cls)
    return images, labels


def _count_classes(labels: list[str], report: ZipReport, min_per_class: int) -> list[str]:
    """The sorted class names, counted into the report; DataError when too few to train on."""
    classes = sorted(set(labels))
    report.classes = {c: labels.count(c) for c in classes}
    if len(classes) < 2:
        found = ", ".join(f"{c} ({n} images)" for c, n in report.classes.items()) or "none"
        raise DataError(f"Need at least two class folders with images; found only: {found}.")
    small = {c: n for c, n in report.classes.items() if n < min_per_class}
    if small:
        raise DataError(
            f"Each class needs at least {min_per_class} images; too few in: "
            + ", ".join(f"{c} ({n})" for c, n in small.items())
        )
    return classes


def load_zip(
    data: bytes,
    device: str,
    size: int = 32,
    title: str = "upload",
    min_per_class: int = limits.MIN_IMAGES_PER_CLASS,
    max_files: int = limits.MAX_ZIP_FILES,
    max_total: int = limits.MAX_ZIP_UNCOMPRESSED_MB * 2**20,
) -> tuple[ImageTensors, ZipReport]:
    """A .zip with one folder per class (ImageFolder layout, optionally inside one top
    folder) as tensors on `device`, resized to size x size, named `title`. Raises DataError
    with a message the user can act on; unusable files are skipped and listed in the report."""
    if len(data) > limits.MAX_UPLOAD_MB * 2**20:
        raise DataError(f"Refused: the file is over {limits.MAX_UPLOAD_MB} MB.")
    if not 8 <= size <= 256:
        raise DataError(f"Image size must be between 8 and 256 pixels, got {size}.")
    report = ZipReport()
    with _open_zip(data) as zf:
        _check_entries(zf.infolist(), max_files, max_total)
        files = _image_entries(zf.infolist(), report)
        images, labels = _read_images(zf, files, size, report)
    classes = _count_classes(labels, report, min_per_class)
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[c] for c in labels])
    return _to_device(title, np.stack(images), y, classes, device), report


def split(y: torch.Tensor, seed: int, val: float = 0.15, test: float = 0.15):
    """Stratified (train, val, test) index tensors on y's device; at least one image of each
    class in val, and in test unless `test` is 0 (then the test part is empty)."""
    gen = torch.Generator().manual_seed(seed)
    parts: tuple[list, list, list] = ([], [], [])
    labels = y.cpu()
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        n_val = max(1, round(len(idx) * val))
        n_test = max(1, round(len(idx) * test)) if test > 0 else 0
        parts[1].append(idx[:n_val])
        parts[2].append(idx[n_val : n_val + n_test])
        parts[0].append(idx[n_val + n_test :])
    return tuple(torch.cat(p).to(y.device) for p in parts)
