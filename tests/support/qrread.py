"""Reading QR codes back with a real decoder (zxing-cpp), QR format only: scanning every
format, the decoder sometimes reads a phantom 1D barcode out of a QR code's modules."""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image


def read_qr(image: bytes | Image.Image) -> list[str]:
    """The texts of the QR codes in a PNG (bytes) or a PIL image."""
    img = Image.open(io.BytesIO(image)) if isinstance(image, bytes) else image
    return [b.text for b in zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)]
