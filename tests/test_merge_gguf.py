"""Merging a PEFT LoRA adapter into the real base GGUF (SmolLM2-135M, Q4_1).

The adapters are synthetic (numpy, written with ``safetensors``) so every expected weight
is computed here by hand: ``dequant(base) + (alpha/r)·B·A``, with the q/k rows placed where
llama.cpp's converter puts them, checked against an index-by-index reference.
"""

from __future__ import annotations

import asyncio
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from pantheon_engine.engines.catalogue import resolve_model
from pantheon_engine.errors import ConfigError
from pantheon_engine.run.merge_gguf import (
    merge_lora_into_gguf,
    permute_qk,
    read_safetensors,
)

gguf = pytest.importorskip("gguf")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

N_HEAD, N_HEAD_KV, HEAD_DIM, EMBED, FFN = 9, 3, 64, 576, 1536
SHAPES = {  # (out, in) of each projection, Hugging Face layout
    "self_attn.q_proj": (N_HEAD * HEAD_DIM, EMBED),
    "self_attn.k_proj": (N_HEAD_KV * HEAD_DIM, EMBED),
    "self_attn.v_proj": (N_HEAD_KV * HEAD_DIM, EMBED),
    "self_attn.o_proj": (EMBED, EMBED),
    "mlp.gate_proj": (FFN, EMBED),
    "mlp.up_proj": (FFN, EMBED),
    "mlp.down_proj": (EMBED, FFN),
}
GGUF_NAME = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}


@pytest.fixture(scope="module")
def base_gguf() -> Path:
    return resolve_model("smollm2-135m", allow_download=True, progress=False)


def write_adapter(folder: Path, layers: dict[int, list[str]], *, r: int = 4,
                  alpha: float = 8.0, scale: float = 0.05, seed: int = 0,
                  dtype: type = np.float32, extra: dict | None = None,
                  config: dict | None = None) -> dict[str, np.ndarray]:
    """A PEFT-format adapter on the given layers/projections; returns its tensors."""
    rng = np.random.default_rng(seed)
    tensors: dict[str, np.ndarray] = {}
    for layer, projections in layers.items():
        for proj in projections:
            out_dim, in_dim = SHAPES[proj]
            key = f"base_model.model.model.layers.{layer}.{proj}"
            tensors[f"{key}.lora_A.weight"] = (rng.standard_normal((r, in_dim)) * scale
                                               ).astype(dtype)
            tensors[f"{key}.lora_B.weight"] = (rng.standard_normal((out_dim, r)) * scale
                                               ).astype(dtype)
    tensors.update(extra or {})
    folder.mkdir(parents=True, exist_ok=True)
    safetensors_numpy.save_file(tensors, str(folder / "adapter_model.safetensors"))
    targets = sorted({p.split(".")[-1] for ps in layers.values() for p in ps})
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "r": r, "lora_alpha": alpha, "target_modules": targets,
        "lora_dropout": 0.0, "bias": "none", "task_type": "CAUSAL_LM", **(config or {})}))
    return tensors


def gguf_rows_reference(delta: np.ndarray, heads: int) -> np.ndarray:
    """Where llama.cpp puts each row, written index by index: within each head, Hugging
    Face's halves [x0..x31 | y0..y31] become neighbours x0 y0 x1 y1 …"""
    out = np.empty_like(delta)
    half = HEAD_DIM // 2
    for h in range(heads):
        for j in range(half):
            for part in (0, 1):
                out[h * HEAD_DIM + 2 * j + part] = delta[h * HEAD_DIM + part * half + j]
    return out


def test_permutation_is_llama_cpps_for_q_and_k() -> None:
    rng = np.random.default_rng(1)
    q = rng.standard_normal((N_HEAD * HEAD_DIM, 8)).astype(np.float32)
    k = rng.standard_normal((N_HEAD_KV * HEAD_DIM, 8)).astype(np.float32)
    assert np.array_equal(permute_qk(q, N_HEAD, N_HEAD), gguf_rows_reference(q, N_HEAD))
    # k is permuted with the number of key/value heads, not the query heads
    assert np.array_equal(permute_qk(k, N_HEAD, N_HEAD_KV), gguf_rows_reference(k, N_HEAD_KV))
    assert not np.array_equal(permute_qk(k, N_HEAD, N_HEAD_KV), k)


def test_merged_file_is_the_base_plus_each_scaled_delta(base_gguf: Path,
                                                          tmp_path: Path) -> None:
    every = list(SHAPES)
    r, alpha = 4, 8.0
    tensors = write_adapter(tmp_path / "adapter", {0: every, 7: ["self_attn.q_proj",
                                                                 "self_attn.k_proj"]},
                            r=r, alpha=alpha)
    out = tmp_path / "merged.gguf"
    report = merge_lora_into_gguf(base_gguf, tmp_path / "adapter", out)

    touched = {f"blk.0.{GGUF_NAME[p]}.weight" for p in every} | \
        {"blk.7.attn_q.weight", "blk.7.attn_k.weight"}
    assert set(report.touched) == touched and report.scale == alpha / r
    base, merged = gguf.GGUFReader(base_gguf), gguf.GGUFReader(out)
    assert [t.name for t in merged.tensors] == [t.name for t in base.tensors]
    # every metadata key and value is the base's
    assert {k: f.contents() for k, f in merged.fields.items() if not k.startswith("GGUF.")} \
        == {k: f.contents() for k, f in base.fields.items() if not k.startswith("GGUF.")}

    by_name = {t.name: t for t in base.tensors}
    for tensor in merged.tensors:
        original = by_name[tensor.name]
        if tensor.name not in touched:  # byte for byte, type and shape unchanged
            assert tensor.tensor_type == original.tensor_type
            assert tensor.data.tobytes() == original.data.tobytes(), tensor.name
            continue
        assert tensor.tensor_type == gguf.GGMLQuantizationType.F16
        layer = int(tensor.name.split(".")[1])
        proj = next(p for p, g in GGUF_NAME.items() if f".{g}.weight" in tensor.name)
        key = f"base_model.model.model.layers.{layer}.{proj}"
        delta = (alpha / r) * (tensors[f"{key}.lora_B.weight"] @ tensors[f"{key}.lora_A.weight"])
        if proj.endswith("q_proj"):
            delta = gguf_rows_reference(delta, N_HEAD)
        elif proj.endswith("k_proj"):
            delta = gguf_rows_reference(delta, N_HEAD_KV)
        weight = gguf.quants.dequantize(original.data, original.tensor_type)
        got = np.asarray(tensor.data, dtype=np.float32).reshape(weight.shape)
        # F16 keeps ~11 bits: relative error 2^-11 of each weight
        assert np.allclose(got, weight + delta, rtol=2**-10, atol=1e-6), tensor.name
        # and the rounding is small next to the delta: the adapter is not lost in it
        assert np.abs(got - (weight + delta)).mean() < 0.05 * np.abs(delta).mean()
        if proj.endswith(("q_proj", "k_proj")):  # without the permutation it would not fit
            unpermuted = (alpha / r) * (tensors[f"{key}.lora_B.weight"]
                                        @ tensors[f"{key}.lora_A.weight"])
            assert not np.allclose(got, weight + unpermuted, rtol=2**-10, atol=1e-6)


def test_a_zero_adapter_leaves_the_file_byte_identical(base_gguf: Path,
                                                       tmp_path: Path) -> None:
    write_adapter(tmp_path / "zero", {0: list(SHAPES), 29: ["self_attn.v_proj"]}, scale=0.0)
    out = tmp_path / "zero.gguf"
    report = merge_lora_into_gguf(base_gguf, tmp_path / "zero", out)
    assert report.touched == [] and report.max_abs_delta == 0.0
    assert out.read_bytes() == base_gguf.read_bytes()


def test_rslora_and_half_precision_adapters(base_gguf: Path, tmp_path: Path) -> None:
    tensors = write_adapter(tmp_path / "a", {3: ["self_attn.v_proj"]}, r=16, alpha=8.0,
                            dtype=np.float16, config={"use_rslora": True})
    report = merge_lora_into_gguf(base_gguf, tmp_path / "a", tmp_path / "m.gguf")
    assert report.scale == pytest.approx(8.0 / 4.0)  # alpha / sqrt(r)
    merged = {t.name: t for t in gguf.GGUFReader(tmp_path / "m.gguf").tensors}
    base = {t.name: t for t in gguf.GGUFReader(base_gguf).tensors}
    key = "base_model.model.model.layers.3.self_attn.v_proj"
    delta = 2.0 * (tensors[f"{key}.lora_B.weight"].astype(np.float32)
                   @ tensors[f"{key}.lora_A.weight"].astype(np.float32))
    original = base["blk.3.attn_v.weight"]
    weight = gguf.quants.dequantize(original.data, original.tensor_type)
    got = np.asarray(merged["blk.3.attn_v.weight"].data, dtype=np.float32)
    assert np.allclose(got.reshape(weight.shape), weight + delta, rtol=2**-10, atol=1e-6)


def test_bf16_tensors_are_read_without_torch(tmp_path: Path) -> None:
    values = np.array([[1.5, -2.0], [0.15625, 3.0]], dtype=np.float32)
    bf16 = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
    header = json.dumps({"w": {"dtype": "BF16", "shape": [2, 2],
                               "data_offsets": [0, len(bf16)]}}).encode()
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bf16)
    assert np.array_equal(read_safetensors(path)["w"], values)


def test_adapters_that_cannot_merge_are_refused(base_gguf: Path, tmp_path: Path) -> None:
    lm_head = {"base_model.model.lm_head.lora_A.weight": np.zeros((4, EMBED), np.float32)}
    write_adapter(tmp_path / "head", {0: ["self_attn.q_proj"]}, extra=lm_head)
    with pytest.raises(ConfigError, match=r"cannot merge adapter tensor.*lm_head"):
        merge_lora_into_gguf(base_gguf, tmp_path / "head", tmp_path / "o.gguf")

    write_adapter(tmp_path / "deep", {30: ["self_attn.q_proj"]})  # the model has 30 blocks
    with pytest.raises(ConfigError, match=r"blk\.30\.attn_q\.weight, which .* not have"):
        merge_lora_into_gguf(base_gguf, tmp_path / "deep", tmp_path / "o.gguf")

    write_adapter(tmp_path / "dora", {0: ["self_attn.q_proj"]}, config={"use_dora": True})
    with pytest.raises(ConfigError, match="DoRA"):
        merge_lora_into_gguf(base_gguf, tmp_path / "dora", tmp_path / "o.gguf")

    wrong = {"base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight":
             np.zeros((4, EMBED), np.float32),
             "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight":
             np.zeros((EMBED, 4), np.float32)}  # v is 192 rows here, not 576
    write_adapter(tmp_path / "shape", {}, extra=wrong)
    with pytest.raises(ConfigError, match=r"delta is \(576, 576\), the base tensor \(192, 576\)"):
        merge_lora_into_gguf(base_gguf, tmp_path / "shape", tmp_path / "o.gguf")
    assert not (tmp_path / "o.gguf").exists()


@pytest.mark.model
def test_the_served_output_changes_with_the_adapter(base_gguf: Path, tmp_path: Path) -> None:
    """The embedded engine serves the merged file: a strong adapter changes a greedy reply,
    a zero adapter leaves it exactly as the base model's."""
    from pantheon_engine.engines.base import EngineRequest, Message
    from pantheon_engine.engines.openvino import OpenVINOEngine

    attention = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                 "self_attn.o_proj"]
    write_adapter(tmp_path / "strong", dict.fromkeys(range(30), attention), scale=0.08)
    write_adapter(tmp_path / "zero", dict.fromkeys(range(30), attention), scale=0.0)
    strong = merge_lora_into_gguf(base_gguf, tmp_path / "strong", tmp_path / "strong.gguf")
    merge_lora_into_gguf(base_gguf, tmp_path / "zero", tmp_path / "zero.gguf")
    assert len(strong.touched) == 120

    async def reply(path: Path) -> str:
        engine = OpenVINOEngine(path, model_name=path.name)
        await engine.start()
        try:
            completion = await engine.complete(EngineRequest(
                messages=[Message(role="user", content="Name three colours.")],
                max_tokens=16, temperature=0.0))
        finally:
            await engine.close()
        return completion.text

    base_text = asyncio.run(reply(base_gguf))
    assert base_text.strip()
    assert asyncio.run(reply(tmp_path / "zero.gguf")) == base_text
    assert asyncio.run(reply(tmp_path / "strong.gguf")) != base_text


def test_a_qwen2_adapter_merges_without_the_llama_permutation(tmp_path: Path) -> None:
    """llama.cpp writes qwen2 q/k rows as Hugging Face has them: the delta lands unpermuted,
    so an adapter trained on the 0.5B code model is served by its merged GGUF."""
    base = resolve_model("qwen2.5-coder-0.5b", allow_download=True, progress=False)
    reader = gguf.GGUFReader(base)
    by_name = {t.name: t for t in reader.tensors}
    rng = np.random.default_rng(3)
    r, alpha = 4, 8.0
    tensors: dict[str, np.ndarray] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for proj, name in (("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k")):
        shape = tuple(int(n) for n in reversed(by_name[f"blk.0.{name}.weight"].shape))
        shapes[proj] = shape
        key = f"base_model.model.model.layers.0.{proj}"
        tensors[f"{key}.lora_A.weight"] = (rng.standard_normal((r, shape[1])) * 0.05
                                           ).astype(np.float32)
        tensors[f"{key}.lora_B.weight"] = (rng.standard_normal((shape[0], r)) * 0.05
                                           ).astype(np.float32)
    folder = tmp_path / "adapter"
    folder.mkdir()
    safetensors_numpy.save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "r": r, "lora_alpha": alpha, "target_modules": ["q_proj",
                                                                             "k_proj"],
        "lora_dropout": 0.0, "bias": "none", "task_type": "CAUSAL_LM"}))
    out = tmp_path / "merged.gguf"
    report = merge_lora_into_gguf(base, folder, out)
    assert set(report.touched) == {"blk.0.attn_q.weight", "blk.0.attn_k.weight"}
    merged = {t.name: t for t in gguf.GGUFReader(out).tensors}
    for proj, name in (("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k")):
        key = f"base_model.model.model.layers.0.{proj}"
        delta = (alpha / r) * (tensors[f"{key}.lora_B.weight"] @ tensors[f"{key}.lora_A.weight"])
        original = by_name[f"blk.0.{name}.weight"]
        weight = gguf.quants.dequantize(original.data, original.tensor_type
                                        ).reshape(shapes[proj])
        got = np.asarray(merged[f"blk.0.{name}.weight"].data, dtype=np.float32
                         ).reshape(shapes[proj])
        assert np.allclose(got, weight + delta, rtol=2**-10, atol=1e-5), name
