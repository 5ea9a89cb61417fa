"""Make a GGUF file one that OpenVINO GenAI can load.

OpenVINO GenAI (2026.4) reads GGUF files of the ``llama``, ``qwen2`` and ``qwen3``
architectures whose tensors are F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K or Q6_K. Other
tensor types (Q5_0, Q5_1, Q5_K, Q2_K, Q3_K, the IQ types, ...) make it fail with
``gguf_tensor_to_f16 failed``; many "Q4_K_M" files hold some Q5_0 tensors (rows whose width
is not a multiple of 256 cannot be K-quants).

:func:`reencode_for_openvino` writes a copy in which exactly those tensors are dequantised
and quantised again as Q8_0 (with ``gguf.quants``; Q8_0 is finer than any type it replaces,
so the copy is at least as close to the original weights). The header and every metadata
key are copied byte for byte, and so is every other tensor; only the tensor-info table is
written anew (the replaced tensors' types and every tensor's data offset change).

:func:`openvino_gguf` is what the rest of the engine calls: a file that is already
loadable is returned as it is; otherwise the compatible copy is written once into a cache
folder keyed by the source file's SHA-256 and reused afterwards (the user's file is never
touched). An architecture OpenVINO cannot load (e.g. ``gemma3``) is a :class:`ConfigError`
that names it.

Reading the header needs no ``gguf`` package (:func:`scan_gguf` parses the tensor table
itself in well under a second, where ``gguf.GGUFReader`` takes seconds on a large
vocabulary); re-encoding needs ``numpy`` and ``gguf``.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pantheon_engine.artifacts import sha256_file
from pantheon_engine.atomic import atomic_write_text, fsync_dir, read_dict
from pantheon_engine.engines.model_cache import compat_dir, progress_bar
from pantheon_engine.errors import ConfigError

__all__ = [
    "OPENVINO_ARCHITECTURES",
    "OPENVINO_TENSOR_TYPES",
    "GGUFHeader",
    "GGUFTensorInfo",
    "ReencodeReport",
    "check_openvino_gguf",
    "openvino_gguf",
    "openvino_ready",
    "reencode_for_openvino",
    "scan_gguf",
]

#: GGUF architectures (``general.architecture``) OpenVINO GenAI builds a model for
OPENVINO_ARCHITECTURES = frozenset({"llama", "qwen2", "qwen3"})

#: ggml tensor types OpenVINO GenAI reads, by their ggml type number
OPENVINO_TENSOR_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 30: "BF16", 8: "Q8_0", 2: "Q4_0", 3: "Q4_1", 12: "Q4_K", 14: "Q6_K",
}  # fmt: skip

Q8_0 = 8
_Q8_0_BLOCK = (32, 34)  # elements, bytes
_DEFAULT_ALIGNMENT = 32
_CHUNK_VALUES = 1 << 24  # floats dequantised at a time (64 MB of float32)

# GGUF metadata value types -> fixed size in bytes (8 STRING and 9 ARRAY are variable)
_SCALAR_SIZE = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_SCALAR_FORMAT = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q",
                  11: "q", 12: "d"}  # fmt: skip

Progress = Callable[[int, int], None]
"""Called as ``(bytes of tensor data done, bytes in all)`` while a copy is written."""


@dataclass(frozen=True)
class GGUFTensorInfo:
    name: str
    dims: tuple[int, ...]  # ne0 (the row width) first, as stored
    type: int
    offset: int  # from the start of the data section
    nbytes: int

    @property
    def type_name(self) -> str:
        return _type_name(self.type)


@dataclass
class GGUFHeader:
    """What :func:`scan_gguf` reads: the metadata scalars, the tensor table, the layout."""

    path: Path
    version: int
    architecture: str
    alignment: int
    kv_end: int  # byte offset where the tensor-info table starts
    data_start: int  # byte offset of the (aligned) tensor data section
    tensors: list[GGUFTensorInfo]
    scalars: dict[str, Any] = field(default_factory=dict)

    @property
    def type_counts(self) -> dict[str, int]:
        return dict(Counter(t.type_name for t in self.tensors))

    @property
    def unsupported(self) -> list[GGUFTensorInfo]:
        """Tensors whose type OpenVINO GenAI cannot read."""
        return [t for t in self.tensors if t.type not in OPENVINO_TENSOR_TYPES]


class ReencodeReport(dict[str, Any]):
    """What :func:`reencode_for_openvino` did (a plain dict, JSON-ready)."""


def _type_name(kind: int) -> str:
    try:
        from gguf import GGMLQuantizationType

        return GGMLQuantizationType(kind).name
    except (ImportError, ValueError):
        return OPENVINO_TENSOR_TYPES.get(kind, f"type{kind}")


def _block(kind: int) -> tuple[int, int]:
    """(elements per block, bytes per block) of a ggml tensor type."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    try:
        return GGML_QUANT_SIZES[GGMLQuantizationType(kind)]
    except (ValueError, KeyError):
        raise ConfigError(f"unknown ggml tensor type {kind}") from None


# --- reading ---------------------------------------------------------------------------


class _Cursor:
    def __init__(self, buffer: mmap.mmap | bytes, path: Path) -> None:
        self.buffer = buffer
        self.pos = 0
        self.path = path

    def unpack(self, fmt: str) -> Any:
        try:
            values = struct.unpack_from("<" + fmt, self.buffer, self.pos)
        except struct.error:
            raise ConfigError(f"{self.path}: truncated GGUF header") from None
        self.pos += struct.calcsize("<" + fmt)
        return values[0] if len(values) == 1 else values

    def string(self) -> str:
        size = self.unpack("Q")
        end = self.pos + size
        if end > len(self.buffer):
            raise ConfigError(f"{self.path}: truncated GGUF header")
        raw = bytes(self.buffer[self.pos:end])
        self.pos = end
        return raw.decode("utf-8", errors="replace")

    def skip_value(self, kind: int) -> None:
        if kind in _SCALAR_SIZE:
            self.pos += _SCALAR_SIZE[kind]
        elif kind == 8:
            size = self.unpack("Q")  # (not `pos += unpack()`: that reads pos first)
            self.pos += size
        elif kind == 9:
            sub, count = self.unpack("IQ")
            if sub in _SCALAR_SIZE:
                self.pos += _SCALAR_SIZE[sub] * count
            else:
                for _ in range(count):
                    self.skip_value(sub)
        else:
            raise ConfigError(f"{self.path}: unknown GGUF metadata type {kind}")
        if self.pos > len(self.buffer):
            raise ConfigError(f"{self.path}: truncated GGUF header")


def scan_gguf(path: Path | str) -> GGUFHeader:
    """Read a GGUF file's header: architecture, alignment, tensor table. No tensor data."""
    path = Path(path)
    try:
        with path.open("rb") as handle, \
                mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:  # fmt: skip
            return _scan(buf, path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable GGUF file: {exc}") from exc


def _scan(buf: mmap.mmap, path: Path) -> GGUFHeader:
    cursor = _Cursor(buf, path)
    if bytes(buf[:4]) != b"GGUF":
        raise ConfigError(f"{path}: not a GGUF file (bad magic bytes)")
    cursor.pos = 4
    version = cursor.unpack("I")
    if version not in (2, 3):
        what = "a big-endian GGUF file" if version > 0xFFFF else f"GGUF version {version}"
        raise ConfigError(f"{path}: {what} is not supported (little-endian v2/v3 only)")
    n_tensors, n_kv = cursor.unpack("QQ")
    scalars: dict[str, Any] = {}
    for _ in range(n_kv):
        key = cursor.string()
        kind = cursor.unpack("I")
        if kind in _SCALAR_FORMAT:
            scalars[key] = cursor.unpack(_SCALAR_FORMAT[kind])
        elif kind == 8:
            scalars[key] = cursor.string()
        else:
            cursor.skip_value(kind)
    kv_end = cursor.pos
    raw_infos: list[tuple[str, tuple[int, ...], int, int]] = []
    for _ in range(n_tensors):
        name = cursor.string()
        n_dims = cursor.unpack("I")
        dims = tuple(int(d) for d in struct.unpack_from(f"<{n_dims}Q", buf, cursor.pos))
        cursor.pos += 8 * n_dims
        kind, offset = cursor.unpack("IQ")
        raw_infos.append((name, dims, kind, offset))
    alignment = int(scalars.get("general.alignment", _DEFAULT_ALIGNMENT) or _DEFAULT_ALIGNMENT)
    data_start = _align(cursor.pos, alignment)
    tensors = [GGUFTensorInfo(name, dims, kind, offset, _nbytes(dims, kind))
               for name, dims, kind, offset in raw_infos]
    for tensor in tensors:
        if data_start + tensor.offset + tensor.nbytes > len(buf):
            raise ConfigError(f"{path}: tensor {tensor.name} runs past the end of the file "
                              "(truncated or not assembled in order)")
    return GGUFHeader(path=path, version=version,
                      architecture=str(scalars.get("general.architecture", "")),
                      alignment=alignment, kv_end=kv_end, data_start=data_start,
                      tensors=tensors, scalars=scalars)  # fmt: skip


def _align(offset: int, alignment: int) -> int:
    return offset + (-offset % alignment)


def _nbytes(dims: tuple[int, ...], kind: int) -> int:
    count = 1
    for d in dims:
        count *= d
    block, size = _block(kind)
    return count // block * size


# --- checking --------------------------------------------------------------------------


def check_openvino_gguf(header: GGUFHeader) -> None:
    """:class:`ConfigError` when OpenVINO GenAI cannot load this architecture at all."""
    arch = header.architecture
    if arch not in OPENVINO_ARCHITECTURES:
        raise ConfigError(
            f"{header.path}: OpenVINO GenAI cannot load GGUF models of the "
            f"'{arch or 'unknown'}' architecture (it reads "
            f"{', '.join(sorted(OPENVINO_ARCHITECTURES))} only)",
            hint="use a llama, qwen2 or qwen3 GGUF, or an OpenVINO IR folder exported with "
            "optimum-intel (`optimum-cli export openvino --model ORG/REPO DIR`)",
        )


# --- re-encoding -----------------------------------------------------------------------


def reencode_for_openvino(src: Path | str, out: Path | str, *,
                          progress: Progress | None = None) -> ReencodeReport:
    """Write ``out``: ``src`` with every tensor OpenVINO cannot read re-encoded as Q8_0.

    The file appears atomically (temporary file, fsync, rename); on any error nothing is
    left at ``out``. Refuses an architecture OpenVINO cannot load.
    """
    import numpy as np

    try:
        from gguf import quants
    except ImportError as exc:  # pragma: no cover - gguf is a main dependency
        raise ConfigError("re-encoding a GGUF needs the gguf package",
                          hint="pip install gguf") from exc

    started = time.perf_counter()
    src, out = Path(src), Path(out)
    header = scan_gguf(src)
    check_openvino_gguf(header)
    replaced = {t.name for t in header.unsupported}
    alignment = header.alignment
    # the new tensor table: same names, dims and order; new types and offsets
    layout: list[tuple[GGUFTensorInfo, int, int, int]] = []  # info, type, offset, nbytes
    offset = 0
    for tensor in header.tensors:
        kind = Q8_0 if tensor.name in replaced else tensor.type
        if kind == Q8_0 and tensor.name in replaced and tensor.dims[0] % _Q8_0_BLOCK[0]:
            raise ConfigError(f"{src}: tensor {tensor.name} ({tensor.type_name}) has rows of "
                              f"{tensor.dims[0]} values, which Q8_0 cannot hold")
        nbytes = _nbytes(tensor.dims, kind)
        layout.append((tensor, kind, offset, nbytes))
        offset = _align(offset + nbytes, alignment)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    total = sum(t.nbytes for t in header.tensors)
    done = 0
    try:
        with src.open("rb") as handle, tmp.open("wb") as dest:
            dest.write(handle.read(header.kv_end))  # magic, version, counts, every key: as is
            for tensor, kind, new_offset, _ in layout:
                name = tensor.name.encode("utf-8")
                dest.write(struct.pack("<Q", len(name)) + name)
                dest.write(struct.pack(f"<I{len(tensor.dims)}Q", len(tensor.dims), *tensor.dims))
                dest.write(struct.pack("<IQ", kind, new_offset))
            dest.write(b"\0" * (-dest.tell() % alignment))
            data_start = dest.tell()
            for tensor, _, new_offset, nbytes in layout:
                dest.write(b"\0" * (data_start + new_offset - dest.tell()))
                handle.seek(header.data_start + tensor.offset)
                if tensor.name not in replaced:
                    _copy(handle, dest, tensor.nbytes)
                else:
                    raw = handle.read(tensor.nbytes)
                    written = _requantize(np, quants, raw, tensor, dest, src)
                    if written != nbytes:  # pragma: no cover - a bug in the size arithmetic
                        raise ConfigError(f"{src}: {tensor.name}: wrote {written} bytes, "
                                          f"expected {nbytes}")
                done += tensor.nbytes
                if progress is not None:
                    progress(done, total)
            dest.write(b"\0" * (-dest.tell() % alignment))
            dest.flush()
            os.fsync(dest.fileno())
        os.replace(tmp, out)
        fsync_dir(out.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    types = Counter(t.type_name for t in header.unsupported)
    return ReencodeReport(
        source=str(src), out=str(out), architecture=header.architecture,
        reencoded=len(replaced), reencoded_types=dict(types), target="Q8_0",
        seconds=round(time.perf_counter() - started, 2), size=out.stat().st_size,
    )  # fmt: skip


def _copy(src: Any, dest: Any, size: int) -> None:
    while size > 0:
        chunk = src.read(min(size, 1 << 24))
        if not chunk:
            raise ConfigError(f"{src.name}: ends inside its tensor data (truncated)")
        dest.write(chunk)
        size -= len(chunk)


def _requantize(np: Any, quants: Any, raw: bytes, tensor: GGUFTensorInfo,
                dest: Any, src: Path) -> int:
    """Dequantise one tensor a slab of rows at a time and write it as Q8_0."""
    width = tensor.dims[0]
    block, size = _block(tensor.type)
    row_bytes = width // block * size
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, row_bytes)
    step = max(1, _CHUNK_VALUES // width)
    written = 0
    for first in range(0, rows.shape[0], step):
        try:
            values = quants.dequantize(rows[first:first + step], tensor.type)
        except NotImplementedError:
            raise ConfigError(f"{src}: tensor {tensor.name} is {tensor.type_name}, which "
                              "this gguf package cannot decode") from None
        packed = quants.quantize(np.ascontiguousarray(values, dtype=np.float32),
                                 quants.GGMLQuantizationType.Q8_0)
        data = packed.tobytes()
        dest.write(data)
        written += len(data)
    return written


# --- the cache of compatible copies ----------------------------------------------------

_SOURCE_FILE = "source.json"


def openvino_gguf(path: Path | str, cache: Path, *,
                  progress: Progress | None = None) -> Path:
    """``path`` if OpenVINO GenAI loads it as it is, else its re-encoded copy.

    The copy lives in ``cache/<sha256 of path>/<name>`` and is written once; a later call
    finds it by the source's size and modification time (recorded next to it, so a large
    file is not hashed again) or, failing that, by its hash. ``path`` is never modified.
    """
    path = Path(path)
    header = scan_gguf(path)
    check_openvino_gguf(header)
    if not header.unsupported:
        return path
    stat = path.stat()
    stamp = {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if cache.is_dir():
        for folder in cache.iterdir():
            meta = read_dict(folder / _SOURCE_FILE)
            if meta and {k: meta.get(k) for k in stamp} == stamp:
                copy = folder / str(meta.get("file", ""))
                if copy.is_file():
                    return copy
    digest = sha256_file(path)
    folder = cache / digest
    copy = folder / path.name
    if not copy.is_file():
        reencode_for_openvino(path, copy, progress=progress)
    meta = {**stamp, "sha256": digest, "file": copy.name,
            "reencoded": dict(Counter(t.type_name for t in header.unsupported))}
    atomic_write_text(folder / _SOURCE_FILE, json.dumps(meta, indent=2) + "\n")
    return copy


def openvino_ready(path: Path, *, progress: bool = False) -> Path:
    """:func:`openvino_gguf` with the cache in ``models/compat/`` and a rich progress bar
    on stderr while a copy is written (when ``progress``)."""
    with progress_bar(progress) as bar:
        task = bar.add_task(f"re-encoding {path.name} for OpenVINO", total=None, visible=False)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, visible=True)

        return openvino_gguf(path, compat_dir(), progress=advance)
