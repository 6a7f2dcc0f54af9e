"""What a GGUF file declares, its metadata and its tensors' types, read from its header alone.

gguf's GGUFReader parses every value of every field through numpy memmap views before it answers: 5 s for the
default model's 49k-token vocabulary and merges, and an export read three such headers (17 s for an f16 export of
SmolLM2-135M, 15 of them here). This walks the same header and skips the arrays it is not asked about; the types and
their sizes are gguf's own. A file in the other byte order is left to GGUFReader.
"""

from __future__ import annotations

import mmap
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class Header:
    fields: dict  # key -> value for scalars and strings; an array's value is its length
    tensor_types: dict[str, int]  # GGML type name -> how many tensors, most first


def read_header(path: Path) -> Header:
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data[:4] != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        if struct.unpack_from("<I", data, 4)[0] & 0xFFFF == 0:
            return _read_with_gguf(path)
        n_tensors, n_fields = struct.unpack_from("<QQ", data, 8)
        walker = _Walker(data, 24)
        fields = {}
        for _ in range(n_fields):
            key = walker.string()
            fields[key] = walker.value(walker.unpack("<I"))
        types = []
        for _ in range(n_tensors):
            walker.string()
            n_dims = walker.unpack("<I")
            walker.offset += 8 * n_dims  # its dimensions
            types.append(walker.unpack("<I"))
            walker.offset += 8  # where its data starts
        return Header(fields, _counted(types))


class _Walker:
    def __init__(self, data, offset: int):
        self.data, self.offset = data, offset

    def unpack(self, layout: str):
        (value,) = struct.unpack_from(layout, self.data, self.offset)
        self.offset += struct.calcsize(layout)
        return value

    def string(self) -> str:
        length = self.unpack("<Q")
        self.offset += length
        return bytes(self.data[self.offset - length : self.offset]).decode("utf-8", errors="replace")

    def value(self, kind: int):
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item, count = self.unpack("<I"), self.unpack("<Q")
            self.skip(item, count)
            return count
        return self.unpack(_SCALARS[kind])

    def skip(self, kind: int, count: int) -> None:
        if kind in _SCALARS:
            self.offset += struct.calcsize(_SCALARS[kind]) * count
            return
        for _ in range(count):
            if kind == _STRING:
                self.offset += 8 + struct.unpack_from("<Q", self.data, self.offset)[0]
            else:
                self.value(kind)


def _counted(types: list[int]) -> dict[str, int]:
    from gguf import GGMLQuantizationType

    return {GGMLQuantizationType(t).name: n for t, n in Counter(types).most_common()}


def _read_with_gguf(path: Path) -> Header:
    from gguf import GGUFReader, GGUFValueType

    reader = GGUFReader(str(path))
    fields = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):  # the reader's own entries for the header's counts, not fields of the file
            continue
        array = field.types and field.types[0] == GGUFValueType.ARRAY
        fields[key] = len(field.data) if array else field.contents()
    return Header(fields, _counted([int(t.tensor_type) for t in reader.tensors]))
