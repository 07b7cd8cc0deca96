"""QR codes decoded by a real decoder (zxing-cpp), and NFC NDEF records."""

from __future__ import annotations

import io
from pathlib import Path

import cairosvg
import pytest
import zxingcpp
from PIL import Image

from invitekit import nfc, qr
from invitekit.errors import InvalidInviteEncoding
from invitekit.link import make_link
from invitekit.payload import InvitePayload
from invitekit.pointer import HttpsPointer

PAYLOAD = InvitePayload(bytes(range(16)), bytes(range(100, 132)),
                        HttpsPointer("https://blobs.example.org/v1"))


def decode_png(png: bytes) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(Image.open(io.BytesIO(png)),
                                  formats=zxingcpp.BarcodeFormat.QRCode)


@pytest.mark.parametrize("error", [qr.ErrorCorrection.M, qr.ErrorCorrection.Q])
def test_link_qr_png_round_trip(error: qr.ErrorCorrection) -> None:
    link = make_link(PAYLOAD, "https://invite.example.org/i")
    code = qr.qr_for_link(link, error=error)
    assert not code.is_micro
    found = decode_png(qr.render_png(code))
    assert [b.text for b in found] == [link]
    ec_order = "LMQH"
    assert ec_order.index(code.error) >= ec_order.index(error.value.upper())


def test_link_qr_svg_round_trip() -> None:
    link = make_link(PAYLOAD, "https://invite.example.org/i")
    png = cairosvg.svg2png(bytestring=qr.render_svg(qr.qr_for_link(link)))
    assert [b.text for b in decode_png(png)] == [link]


def test_raw_bytes_qr_round_trip_png_and_svg() -> None:
    data = PAYLOAD.to_bytes()
    code = qr.qr_for_bytes(data)
    assert not code.is_micro
    assert [b.bytes for b in decode_png(qr.render_png(code))] == [data]
    png = cairosvg.svg2png(bytestring=qr.render_svg(code))
    assert [b.bytes for b in decode_png(png)] == [data]


def test_tiny_content_is_still_regular_qr() -> None:
    code = qr.qr_for_bytes(b"\x01")
    assert not code.is_micro
    assert code.version == 1


def test_compact_profile_gives_a_smaller_symbol() -> None:
    canonical = make_link(PAYLOAD, "https://invite.example.org/i")
    compact = make_link(PAYLOAD, "https://invite.example.org/I", compact=True)
    v_canonical = qr.qr_version(qr.qr_for_link(canonical, error=qr.ErrorCorrection.Q))
    v_compact = qr.qr_version(qr.qr_for_link(compact, error=qr.ErrorCorrection.Q))
    # Byte mode spends 8 bits a character, alphanumeric 5.5: the 128-character base32
    # fragment plus the upper-case prefix needs fewer modules than 147 bytes. segno picks the
    # smallest version that fits; the compact profile saves a whole version here.
    assert v_compact < v_canonical
    assert (v_canonical, v_compact) == (10, 9)
    found = decode_png(qr.render_png(qr.qr_for_link(compact, error=qr.ErrorCorrection.Q)))
    assert [b.text for b in found] == [compact]


def test_write_qr_by_suffix(tmp_path: Path) -> None:
    code = qr.qr_for_bytes(b"abc")
    qr.write_qr(code, tmp_path / "a.png")
    qr.write_qr(code, tmp_path / "a.svg")
    assert (tmp_path / "a.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (tmp_path / "a.svg").read_bytes()
    with pytest.raises(ValueError, match=r"png or \.svg"):
        qr.write_qr(code, tmp_path / "a.gif")


def test_ndef_uri_record_bytes() -> None:
    record = nfc.ndef_uri_record("https://i.io/i#AB")
    # D1: MB|ME|SR|TNF=1; type length 1; payload length 10; "U"; 0x04 = "https://".
    assert record == bytes([0xD1, 0x01, 0x0A, 0x55, 0x04]) + b"i.io/i#AB"
    assert nfc.parse_ndef_uri_record(record) == "https://i.io/i#AB"


def test_long_ndef_record_uses_four_byte_length() -> None:
    uri = "https://i.io/i#" + "A" * 300
    record = nfc.ndef_uri_record(uri)
    assert record[0] == 0xC1
    assert record[2:6] == (len(uri) - len("https://") + 1).to_bytes(4, "big")
    assert nfc.parse_ndef_uri_record(record) == uri


@pytest.mark.parametrize(
    "data", [b"", b"\xd1", b"\xd1\x01\x05U\x04ab", b"\xd2\x01\x03U\x04ab", b"\xd1\x01\x03T\x04ab",
             b"\xd1\x01\x03U\x99ab"],
)
def test_bad_ndef_records(data: bytes) -> None:
    with pytest.raises(InvalidInviteEncoding):
        nfc.parse_ndef_uri_record(data)
