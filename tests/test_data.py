"""core.vision.data: uploaded archives (every bad case the page must survive), splits, downloads."""

import functools
import hashlib
import http.server
import io
import threading
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from core.vision import data
from tests.helpers import archive


def png(mode: str = "RGB", size=(12, 12), value: int = 128, fmt: str = "PNG") -> bytes:
    """A small image in `mode`, encoded as `fmt`."""
    if mode == "I;16":
        img = Image.fromarray(np.full(size[::-1], value * 256, dtype=np.uint16))
    elif mode == "P":
        img = Image.new("RGB", size, (value, 0, 0)).convert("P")
    else:
        channels = len(Image.new(mode, (1, 1)).getbands())
        fill = value if channels == 1 else tuple([value] * channels)
        img = Image.new(mode, size, fill)
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def classes(n: int = 6, **extra) -> dict[str, bytes]:
    files = {f"cats/{i}.png": png(value=40 + i) for i in range(n)}
    files |= {f"dogs/{i}.png": png(value=200 - i) for i in range(n)}
    return files | extra


def test_a_plain_archive_loads_as_tensors():
    ds, report = data.load_zip(archive(classes()), "cpu", size=16, title="pets")
    assert ds.classes == ("cats", "dogs") and ds.x.shape == (12, 3, 16, 16)
    assert ds.name == "pets"  # named after the uploaded file, not "upload"
    assert ds.x.dtype == torch.uint8 and report.classes == {"cats": 6, "dogs": 6}
    assert report.resized == 12 and report.skipped == []


def test_one_top_folder_and_upper_case_extensions_and_mac_junk():
    files = {f"pets/{k}": v for k, v in classes().items()}
    files |= {"pets/cats/LOUD.PNG": png(), "pets/dogs/photo.JPG": png(fmt="JPEG")}
    files |= {
        "__MACOSX/pets/cats/._0.png": b"junk",
        "pets/.DS_Store": b"junk",
        "pets/cats/._1.png": b"x",
    }
    ds, report = data.load_zip(archive(files), "cpu", size=12)
    assert report.classes == {"cats": 7, "dogs": 7} and len(ds.y) == 14
    assert sorted(report.skipped) == [  # reported as skipped, as the README says
        ("__MACOSX/pets/cats/._0.png", "macOS metadata, not an image"),
        ("pets/.DS_Store", "macOS metadata, not an image"),
        ("pets/cats/._1.png", "macOS metadata, not an image"),
    ]


def test_every_image_mode_is_converted():
    modes = ["L", "LA", "P", "RGBA", "CMYK", "I;16", "RGB"]
    files = {
        f"a/{m.replace(';', '')}.png" if m != "CMYK" else "a/cmyk.jpg": png(
            m, fmt="JPEG" if m == "CMYK" else "PNG"
        )
        for m in modes
    }
    files |= {f"b/{i}.png": png("L") for i in range(7)}
    ds, report = data.load_zip(archive(files), "cpu", size=12)
    assert report.classes == {"a": 7, "b": 7} and ds.x.shape[1] == 3
    assert {"LA", "P", "RGBA", "CMYK", "I;16"} <= set(report.converted)
    sixteen = ds.x[ds.classes.index("a")]  # any image of class a decodes to sane pixels
    assert sixteen.max() <= 255


def test_grayscale_archives_stay_one_channel():
    files = {f"x/{i}.png": png("L") for i in range(5)} | {
        f"y/{i}.png": png("L", value=9) for i in range(5)
    }
    ds, _ = data.load_zip(archive(files), "cpu", size=8)
    assert ds.shape == (1, 8, 8)


def test_broken_and_foreign_files_are_skipped_and_listed():
    files = classes()
    files |= {
        "cats/notes.txt": b"hello",
        "cats/broken.png": b"\x89PNG not really",
        "loose.png": png(),
    }
    ds, report = data.load_zip(archive(files), "cpu", size=12)
    reasons = dict(report.skipped)
    assert reasons["cats/notes.txt"] == "not an image file"
    assert reasons["cats/broken.png"].startswith("cannot be decoded")
    assert reasons["loose.png"] == "not inside a class folder"
    assert report.classes == {"cats": 6, "dogs": 6} and len(ds.y) == 12


@pytest.mark.parametrize(
    "evil", ["../escape.png", "/etc/passwd.png", "a/../../b.png", "C:/win.png"]
)
def test_zip_slip_is_refused(evil):
    with pytest.raises(data.DataError, match="outside the archive"):
        data.load_zip(archive(classes() | {evil: png()}), "cpu")


def test_too_many_files_or_too_much_data_is_refused():
    with pytest.raises(data.DataError, match="files; the limit is 10"):
        data.load_zip(archive(classes()), "cpu", max_files=10)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/big.png", b"\0" * (3 * 2**20))  # 3 MiB of zeros squeeze to a few KB
    assert len(bomb.getvalue()) < 20_000
    with pytest.raises(data.DataError, match="expands to 3 MiB; the limit is 1 MiB"):
        data.load_zip(bomb.getvalue(), "cpu", max_total=2**20)


def test_oversized_upload_is_refused(monkeypatch):
    monkeypatch.setattr(data.limits, "MAX_UPLOAD_MB", 0)
    with pytest.raises(data.DataError, match="over 0 MB"):
        data.load_zip(archive(classes()), "cpu")


def test_not_a_zip_and_empty_and_one_class_and_too_few():
    with pytest.raises(data.DataError, match="not a readable .zip"):
        data.load_zip(b"PK but not really", "cpu")
    with pytest.raises(data.DataError, match="no images"):
        data.load_zip(archive({"readme.txt": b"hi"}), "cpu")
    with pytest.raises(
        data.DataError, match=r"two class folders.*found only: only \(9 images\)\.$"
    ):
        data.load_zip(archive({f"only/{i}.png": png() for i in range(9)}), "cpu")
    few = {f"cats/{i}.png": png() for i in range(6)} | {f"dogs/{i}.png": png() for i in range(2)}
    with pytest.raises(data.DataError, match=r"at least 5 images; too few in: dogs \(2\)"):
        data.load_zip(archive(few), "cpu")


def test_split_is_stratified_disjoint_and_seeded():
    digits = data.load_digits("cpu")
    tr, va, te = data.split(digits.y, seed=3)
    together = torch.cat([tr, va, te])
    assert len(together) == len(digits.y) == len(set(together.tolist()))
    for part in (va, te):
        counts = torch.bincount(digits.y[part], minlength=10)
        assert counts.min() >= 25
    assert torch.equal(data.split(digits.y, seed=3)[2], te)
    assert not torch.equal(data.split(digits.y, seed=4)[2], te)


def test_download_with_no_network_says_so(tmp_path):
    with pytest.raises(data.DataError, match="no network"):
        data.fetch(("http://127.0.0.1:9/mnist.gz",), tmp_path / "mnist.gz", None, timeout=2)
    assert not (tmp_path / "mnist.gz").exists()


class Listener:
    """A Progress that keeps what it is told and stops when asked to."""

    def __init__(self):
        self.reports, self.stop = [], False

    def should_stop(self) -> bool:
        return self.stop

    def report(self, progress, message="", rate=None, unit="items") -> None:
        self.reports.append((progress, message, rate, unit))


def test_download_reports_progress_and_checks_the_checksum(tmp_path):
    payload = bytes(range(256)) * 1000
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "file.bin").write_bytes(payload)
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "srv")
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/file.bin"
    try:
        listener = Listener()
        good = hashlib.md5(payload).hexdigest()
        out = data.fetch((url,), tmp_path / "got.bin", good, listener, share=(1, 2))
        assert out.read_bytes() == payload
        progress, message, rate, unit = listener.reports[-1]
        assert progress == 1.0 and message.startswith("got.bin")  # file 2 of 2, all of it
        assert rate > 0 and unit == "MiB"
        listener.stop = True
        with pytest.raises(data.DataError, match="stopped"):
            data.fetch((url,), tmp_path / "stopped.bin", None, listener)
        assert not (tmp_path / "stopped.bin").exists()
        with pytest.raises(data.DataError, match="wrong checksum"):
            data.fetch((url,), tmp_path / "bad.bin", "0" * 32)
        assert not (tmp_path / "bad.bin").exists()
    finally:
        server.shutdown()
