"""Merge a PEFT LoRA adapter into a GGUF model and write a new GGUF.

Why merge: openvino-genai silently ignores LoRA adapters on a pipeline built from a GGUF,
and in the continuous-batching pipeline per-request adapters are not applied under
``add_request``/``step``. A GGUF whose weights already hold the adapter loads like any
other model, so the embedded engine serves a version by loading its merged file.

What the merge does, per adapted projection ``W`` (out × in):

* ``delta = scale · B · A`` with ``scale = lora_alpha / r`` (``lora_alpha / sqrt(r)`` with
  rsLoRA), ``A`` (r × in) and ``B`` (out × r) read from ``adapter_model.safetensors``;
* for ``q_proj`` and ``k_proj`` of a llama model the delta's rows are permuted exactly as
  llama.cpp's ``convert_hf_to_gguf.py`` permutes those weights when it writes a GGUF
  (:func:`permute_qk`; ``k`` with the number of key/value heads);
* the base tensor is dequantised (Q4_1, Q8_0, … with ``gguf.quants.dequantize``), the
  delta added, and the sum written as F16: re-quantising to Q8_0 adds an error of the same
  order as a LoRA delta and drowns it;
* every other tensor and every metadata key is copied byte for byte, including tensors
  whose delta is exactly zero: on OpenVINO's CPU plugin an F16 copy of a Q4_1 tensor runs
  through other kernels than the compressed original and can change greedy output, so
  an adapter that changes nothing must not touch the file.

Needs ``numpy`` and the ``gguf`` package only (no torch): serving never imports a trainer.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pantheon_engine.artifacts import sha256_file
from pantheon_engine.atomic import fsync_dir
from pantheon_engine.errors import ConfigError

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"

#: PEFT projection name -> the GGUF tensor it adapts (``blk.N.<name>.weight``)
GGUF_TENSOR = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}

#: architectures the merge knows; True where llama.cpp permutes the q/k rows on conversion
#: (its converter writes qwen2 and qwen3 rows as Hugging Face has them: NEOX rotary pairs)
ARCH_PERMUTES_QK = {"llama": True, "qwen2": False, "qwen3": False}

_KEY = re.compile(
    r"(?:^|\.)layers\.(?P<layer>\d+)\.(?:self_attn|mlp)\.(?P<proj>[a-z_]+_proj)"
    r"\.lora_(?P<ab>[AB])(?:\.[A-Za-z0-9_]+)?\.weight$"
)

Progress = Callable[[int, int], None]
"""Called as ``(tensors done, tensors in all)`` while the merged file is written."""


class LoraConfig(BaseModel):
    """The fields of PEFT's ``adapter_config.json`` that the merge needs."""

    model_config = ConfigDict(extra="ignore")

    r: int = Field(ge=1)
    lora_alpha: float = Field(gt=0)
    target_modules: list[str] | str | None = None
    use_rslora: bool = False
    use_dora: bool = False
    fan_in_fan_out: bool = False
    rank_pattern: dict[str, int] = Field(default_factory=dict)
    alpha_pattern: dict[str, float] = Field(default_factory=dict)
    modules_to_save: list[str] | None = None

    def scale_for(self, module: str) -> float:
        """alpha/r for one module (``rank_pattern``/``alpha_pattern`` win where they match)."""
        r = _pattern(self.rank_pattern, module, self.r)
        alpha = _pattern(self.alpha_pattern, module, self.lora_alpha)
        return alpha / math.sqrt(r) if self.use_rslora else alpha / r


class MergeReport(BaseModel):
    """What a merge did: the files, the scale, the tensors it rewrote."""

    base: str
    adapter: str
    out: str
    arch: str
    r: int
    lora_alpha: float
    scale: float
    touched: list[str]
    #: largest |delta| over all touched tensors (0 for an adapter that does nothing)
    max_abs_delta: float
    seconds: float
    sha256: str


_V = TypeVar("_V")


def _pattern(patterns: dict[str, _V], module: str, default: _V) -> _V:
    """PEFT's rule: a pattern key matches a module whose name ends with it."""
    for key, value in patterns.items():
        if re.fullmatch(rf"(.*\.)?{key}", module):
            return value
    return default


def permute_qk(weights: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """llama.cpp's q/k row permutation (``LlamaModel.permute`` in convert_hf_to_gguf.py).

    Hugging Face llama checkpoints pair rotary dimensions as halves of each head; GGUF
    ``llama`` models pair them as neighbours. Pass ``n_head_kv`` for ``k``.
    """
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


_SAFETENSORS_DTYPES: dict[str, str] = {"F64": "<f8", "F32": "<f4", "F16": "<f2"}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a ``.safetensors`` file as float32 numpy arrays (F64/F32/F16/BF16).

    The format is an 8-byte header length, a JSON header (name -> dtype, shape, offsets)
    and the raw little-endian data; reading it needs no torch and no extra package.
    """
    try:
        raw = Path(path).read_bytes()
        (size,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + size])
    except (OSError, struct.error, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable safetensors file: {exc}") from exc
    data = memoryview(raw)[8 + size:]
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        chunk = data[start:end]
        dtype = info["dtype"]
        if dtype == "BF16":  # the upper half of a float32
            bits = np.frombuffer(chunk, dtype="<u2").astype(np.uint32) << 16
            array = bits.view(np.float32)
        elif dtype in _SAFETENSORS_DTYPES:
            array = np.frombuffer(chunk, dtype=_SAFETENSORS_DTYPES[dtype]).astype(np.float32)
        else:
            raise ConfigError(f"{path}: tensor {name!r} has dtype {dtype}; a LoRA adapter "
                              "holds F32, F16 or BF16 weights")
        tensors[name] = array.reshape(info["shape"])
    return tensors


def read_lora_config(adapter_dir: Path) -> LoraConfig:
    path = Path(adapter_dir) / ADAPTER_CONFIG
    try:
        config = LoraConfig.model_validate_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the adapter config: {exc}",
                          hint="a PEFT adapter folder holds adapter_config.json and "
                          "adapter_model.safetensors") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"{path}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from exc
    if config.use_dora:
        raise ConfigError(f"{path}: a DoRA adapter (use_dora) cannot be merged as B·A",
                          hint="train a plain LoRA adapter")
    if config.modules_to_save:
        raise ConfigError(f"{path}: modules_to_save {config.modules_to_save} carry full "
                          "weights, which this merge does not write",
                          hint="train with LoRA on the attention/MLP projections only")
    return config


class LoraAdapter:
    """A PEFT adapter read and checked: its config and the (A, B) pair of each projection."""

    def __init__(self, adapter_dir: Path) -> None:
        self.folder = Path(adapter_dir)
        self.config = read_lora_config(self.folder)
        weights = read_safetensors(self.folder / ADAPTER_WEIGHTS)
        pairs: dict[tuple[int, str], dict[str, np.ndarray]] = {}
        for key, value in weights.items():
            match = _KEY.search(key)
            if match is None or match["proj"] not in GGUF_TENSOR:
                raise ConfigError(f"{self.folder}: cannot merge adapter tensor {key!r}",
                                  hint="only LoRA on the attention and MLP projections "
                                  f"({', '.join(GGUF_TENSOR)}) merges into a GGUF")
            pairs.setdefault((int(match["layer"]), match["proj"]), {})[match["ab"]] = value
        if not pairs:
            raise ConfigError(f"{self.folder}: the adapter holds no LoRA tensors")
        for (layer, proj), ab in pairs.items():
            if set(ab) != {"A", "B"}:
                raise ConfigError(f"{self.folder}: layer {layer} {proj} lacks lora_"
                                  f"{'B' if 'A' in ab else 'A'}")
            a, b = ab["A"], ab["B"]
            if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
                raise ConfigError(f"{self.folder}: layer {layer} {proj}: lora_A {a.shape} "
                                  f"and lora_B {b.shape} do not multiply")
        self.pairs = dict(sorted(pairs.items()))

    def deltas(self, *, n_head: int, n_head_kv: int,
               permute: bool = True) -> Iterator[tuple[str, np.ndarray]]:
        """``(GGUF tensor name, delta)`` per adapted projection, delta (out, in) float32.

        The delta is already scaled and, for q/k of a llama model, row-permuted to the
        GGUF layout, so it adds straight onto the dequantised GGUF tensor.
        """
        for (layer, proj), ab in self.pairs.items():
            module = f"model.layers.{layer}.{'mlp' if proj in _MLP else 'self_attn'}.{proj}"
            delta = (ab["B"] @ ab["A"]) * np.float32(self.config.scale_for(module))
            if self.config.fan_in_fan_out:
                delta = delta.T
            if permute and proj == "q_proj":
                delta = permute_qk(delta, n_head, n_head)
            elif permute and proj == "k_proj":
                delta = permute_qk(delta, n_head, n_head_kv)
            yield f"blk.{layer}.{GGUF_TENSOR[proj]}.weight", np.ascontiguousarray(delta)


_MLP = {"gate_proj", "up_proj", "down_proj"}


def _field(reader: Any, key: str) -> Any:
    field = reader.get_field(key)
    return field.contents() if field is not None else None


def merge_lora_into_gguf(base: Path, adapter_dir: Path, out: Path, *,
                         progress: Progress | None = None) -> MergeReport:
    """Write ``out``: the GGUF ``base`` with the LoRA adapter of ``adapter_dir`` merged in.

    The file appears atomically (temp file, fsync, rename). Refuses an architecture whose
    q/k layout it does not know, and an adapter whose shapes do not fit the base.
    """
    try:
        import gguf
    except ImportError as exc:  # pragma: no cover - gguf is a main dependency
        raise ConfigError("merging an adapter needs the gguf package",
                          hint="pip install gguf") from exc

    started = time.perf_counter()
    base, adapter_dir, out = Path(base), Path(adapter_dir), Path(out)
    adapter = LoraAdapter(adapter_dir)  # a bad adapter fails before the base is read
    config = adapter.config
    try:
        reader = gguf.GGUFReader(base, "r")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{base}: not a readable GGUF file: {exc}") from exc
    arch = str(_field(reader, gguf.Keys.General.ARCHITECTURE))
    if arch not in ARCH_PERMUTES_QK:
        raise ConfigError(f"{base}: architecture {arch!r}: merging knows "
                          f"{', '.join(ARCH_PERMUTES_QK)} only")
    n_head = int(_field(reader, f"{arch}.attention.head_count"))
    n_head_kv = int(_field(reader, f"{arch}.attention.head_count_kv") or n_head)
    tensors = {t.name: t for t in reader.tensors}
    merged: dict[str, np.ndarray] = {}
    largest = 0.0
    for name, delta in adapter.deltas(n_head=n_head, n_head_kv=n_head_kv,
                                      permute=ARCH_PERMUTES_QK[arch]):
        tensor = tensors.get(name)
        if tensor is None:
            raise ConfigError(f"{adapter_dir}: adapts {name}, which {base.name} does not have",
                              hint="train the adapter on the model this GGUF holds")
        shape = tuple(int(n) for n in reversed(tensor.shape))  # GGUF lists ne0 (in) first
        if shape != delta.shape:
            raise ConfigError(f"{adapter_dir}: {name}: the adapter's delta is {delta.shape}, "
                              f"the base tensor {shape}",
                              hint="train the adapter on the model this GGUF holds")
        if not delta.any():  # a pair that does nothing leaves the base's bytes as they are
            continue
        weight = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        weight = weight.reshape(shape)
        summed = (weight + delta).astype(np.float16)
        if not np.isfinite(summed).all():
            raise ConfigError(f"{adapter_dir}: {name}: the merged weights overflow F16")
        merged[name] = summed
        largest = max(largest, float(np.abs(delta).max(initial=0.0)))

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    writer = gguf.GGUFWriter(tmp, arch=arch, endianess=reader.endianess)
    alignment = _field(reader, gguf.Keys.General.ALIGNMENT)
    if alignment is not None:
        writer.data_alignment = int(alignment)
    try:
        for field in reader.fields.values():
            # GGUF.* are the reader's virtual fields; the writer adds the architecture itself
            if field.name.startswith("GGUF.") or field.name == gguf.Keys.General.ARCHITECTURE:
                continue
            kind = field.types[0]
            sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)
        for tensor in reader.tensors:
            if tensor.name in merged:
                data = merged[tensor.name]
                writer.add_tensor_info(tensor.name, data.shape, data.dtype, data.nbytes)
            else:
                writer.add_tensor_info(tensor.name, tensor.data.shape, tensor.data.dtype,
                                       tensor.data.nbytes, tensor.tensor_type)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        total = len(reader.tensors)
        for done, tensor in enumerate(reader.tensors, 1):
            replaced = merged.get(tensor.name)
            writer.write_tensor_data(tensor.data if replaced is None else replaced,
                                     tensor_endianess=reader.endianess)
            if progress is not None:
                progress(done, total)
        writer.close()
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, out)
        fsync_dir(out.parent)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return MergeReport(
        base=str(base), adapter=str(adapter_dir), out=str(out), arch=arch, r=config.r,
        lora_alpha=config.lora_alpha, scale=config.scale_for(""),
        touched=sorted(merged, key=_tensor_order), max_abs_delta=largest,
        seconds=time.perf_counter() - started, sha256=sha256_file(out))


def _tensor_order(name: str) -> tuple[int, str]:
    parts = name.split(".")
    return (int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else -1, name)
