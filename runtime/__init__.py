"""The torch-free runtime: read and write ``.nvpkg`` packages and decode their frames.

Depends on numpy, onnxruntime and constriction only; importing it never imports torch::

    from nervkit.runtime import open_package, Decoder
    with open_package("clip.nvpkg") as pkg:
        dec = Decoder(pkg, backend="auto", batch=4)
        frame = dec.decode_frame(0)          # uint8 [H, W, 3]
"""

from .backends import available_backends
from .decoder import Decoder, to_uint8
from .errors import PackageError, UserError
from .package import Package, open_package
from .package_writer import write_package
from .quant import Quantized

__all__ = ["Decoder", "Package", "PackageError", "Quantized", "UserError", "available_backends",
           "open_package", "to_uint8", "write_package"]
