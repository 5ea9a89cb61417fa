"""Models from a Hugging Face hub: ids, the ``models/hf/`` cache, and the download.

A Hugging Face id is ``ORG/REPO`` (an OpenVINO IR repository, every file fetched) or
``ORG/REPO/FILE.gguf`` / ``ORG/REPO:FILE.gguf`` (one GGUF file), with an optional
``@REVISION`` after the repo. By day it is downloaded once into ``models/hf/`` (see
:func:`pull_hf_model`: plain HTTPS with httpx from ``$HF_ENDPOINT``, default
https://huggingface.co, with ``$HF_TOKEN`` as a bearer token); afterwards it is used from
the cache without any network access, night included (the night rule lives in
:func:`pantheon_engine.engines.catalogue.resolve_model`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from pantheon_engine.atomic import read_dict
from pantheon_engine.engines.model_cache import (
    ModelInfo,
    ModelKind,
    hf_dir,
    install_folder,
    is_gguf_file,
    is_ir_folder,
    progress_bar,
)
from pantheon_engine.errors import ConfigError

if TYPE_CHECKING:
    import httpx
    from rich.progress import Progress

__all__ = [
    "HF_DEFAULT_ENDPOINT",
    "HF_SOURCE_FILE",
    "HFModel",
    "hf_cached",
    "hf_endpoint",
    "list_hf",
    "parse_hf_id",
    "pull_hf_model",
]

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


def hf_cached(ref: HFModel) -> Path | None:
    """The cached download of ``ref`` if it is complete, else None. No network."""
    path = ref.path
    if ref.file:
        return path if path.is_file() and is_gguf_file(path) else None
    return path if is_ir_folder(path) else None


def list_hf() -> list[ModelInfo]:
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
    if not force and (cached := hf_cached(ref)) is not None:
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
                progress_bar(progress) as bar,
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
        install_folder(tmp, ref.folder)
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
