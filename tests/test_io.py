"""Every kind of image input, and every kind of bad one, gives an RGB array or a clear ImageError."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from vultus import ImageError, load_image


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_path_bytes_array_and_pil_agree(obama):
    a = load_image(obama)
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
    assert np.array_equal(a, load_image(obama.read_bytes()))
    assert np.array_equal(a, load_image(Image.open(obama)))
    assert np.array_equal(a, load_image(a))


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "LA", "CMYK"])
def test_modes_become_rgb(obama, mode):
    src = Image.open(obama).convert("RGB").resize((64, 80))
    img = src.convert("I;16") if mode == "I;16" else src.convert(mode)
    fmt = "TIFF" if mode in ("CMYK",) else "PNG"
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    out = load_image(buf.getvalue())
    assert out.shape == (80, 64, 3) and out.dtype == np.uint8
    assert out.std() > 10  # still an image, not a blank


def test_exif_orientation_is_applied(obama):
    src = Image.open(obama).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buf = io.BytesIO()
    src.save(buf, format="JPEG", exif=exif.tobytes())
    out = load_image(buf.getvalue())
    assert out.shape[:2] == (src.width, src.height)


def test_16bit_array_and_float_array():
    a16 = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)
    assert load_image(a16).shape == (64, 64, 3)
    assert load_image(np.random.rand(8, 8, 3)).dtype == np.uint8


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"this is not an image at all", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not an image"),
])
def test_bad_bytes(data, reason):
    with pytest.raises(ImageError, match=reason):
        load_image(data, name="upload.png")


def test_truncated_jpeg_names_the_file(tmp_path, obama):
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(obama.read_bytes()[: 4000])
    with pytest.raises(ImageError, match="cut.jpg"):
        load_image(bad)


def test_missing_empty_and_folder(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        load_image(tmp_path / "empty.jpg")
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)


def test_decompression_bomb_is_refused():
    # a valid PNG header declaring 30000 x 30000 pixels, with almost no data behind it
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)) \
        + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b"")
    with pytest.raises(ImageError, match="too large|pixel limit"):
        load_image(png, name="bomb.png")


@pytest.mark.parametrize("bad", [42, None, ["a"], np.zeros((0, 0, 3), np.uint8), np.zeros((4, 4, 7), np.uint8),
                                 np.full((4, 4), np.nan)])
def test_wrong_types(bad):
    with pytest.raises(ImageError):
        load_image(bad)


def test_png_roundtrip_grey():
    g = Image.fromarray((np.arange(100, dtype=np.uint8).reshape(10, 10)))
    assert load_image(_png(g)).shape == (10, 10, 3)
