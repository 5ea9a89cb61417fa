"""The registry of agent versions: what each ``agent@N`` is, which one is current, and why.

Layout under the artifacts folder::

    agents/registry.json             every agent's versions, its current one, its history
    agents/<agent>/<N>/adapter/      the PEFT adapter (adapter_config.json, *.safetensors)
    agents/<agent>/<N>/model.gguf    the base GGUF with the adapter merged in
    agents/<agent>/<N>/version.json  this version's record (a copy; the registry decides)
    agents/<agent>/<N>/...           anything else the trainer saved (loss curve, metrics)

Version 1 of every agent is the built-in base: its prompt on the base model, no adapter.
Each later version records its parent, the base model it was trained on, the sha256 of
every file, the data it was trained on (hash, examples, sources), training metrics and its
latest holdout eval. :meth:`VersionStore.verify` checks every hash before a version is
served, so a file changed after registration is refused instead of silently served.

Promotions and rollbacks are appended to the agent's history (who, when, why, the numbers);
the significance rule that guards a promotion lives in :mod:`.promote`.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from pantheon_engine.agents.ref import AgentRef
from pantheon_engine.artifacts import sha256_file, utc_now
from pantheon_engine.atomic import atomic_write_json, read_json
from pantheon_engine.config import SMALL_MODEL
from pantheon_engine.errors import ConfigError, UserError

BASE_VERSION = 1
REGISTRY_FILE = "registry.json"
ADAPTER_DIR = "adapter"
MERGED_GGUF = "model.gguf"
VERSION_FILE = "version.json"
FORMAT = 1



class VersionError(UserError):
    """An unknown version, a refused promotion or rollback, a registry that cannot be read."""


class TamperedVersion(VersionError):
    """A version's files no longer match the hashes recorded when it was registered."""


class DataInfo(BaseModel):
    """What a version was trained on."""

    hash: str | None = None
    examples: int = 0
    #: examples per source (best_of_k, search, demo, …): the lift from each is reported apart
    sources: dict[str, int] = Field(default_factory=dict)
    path: str | None = None


class EvalInfo(BaseModel):
    """A version's latest eval: its pass@1 with the Wilson interval, and where it came from."""

    pass_at_1: float
    interval: tuple[float, float]
    passed: int
    total: int
    eval_id: str
    suite: str
    split: str
    engine: str | None = None
    model: str | None = None
    at: str


class AgentVersion(BaseModel):
    agent: str
    number: int = Field(ge=1)
    parent: int | None = None
    #: the model the adapter was trained on and merged into (catalogue name or GGUF path)
    base_model: str = SMALL_MODEL
    base_sha256: str | None = None
    #: every file of the version folder (path relative to it) -> sha256
    files: dict[str, str] = Field(default_factory=dict)
    #: the merged GGUF (a key of ``files``); None for the base version
    gguf: str | None = None
    #: the PEFT adapter folder (relative), what a vLLM ``--lora-modules`` entry points at
    adapter: str | None = None
    created_at: str = Field(default_factory=utc_now)
    data: DataInfo = Field(default_factory=DataInfo)
    metrics: dict[str, Any] = Field(default_factory=dict)
    eval: EvalInfo | None = None
    note: str = ""

    @property
    def ref(self) -> str:
        return f"{self.agent}@{self.number}"

    @property
    def is_base(self) -> bool:
        return self.gguf is None and self.adapter is None


class Promotion(BaseModel):
    """One change of an agent's current version."""

    action: Literal["promote", "rollback"]
    agent: str
    from_version: int
    to_version: int
    at: str = Field(default_factory=utc_now)
    by: str
    why: str
    #: the numbers behind it (pass rates, intervals, wins, losses, p, alpha, comparison id)
    evidence: dict[str, Any] = Field(default_factory=dict)


class AgentEntry(BaseModel):
    current: int = BASE_VERSION
    versions: list[AgentVersion] = Field(default_factory=list)
    history: list[Promotion] = Field(default_factory=list)


class RegistryData(BaseModel):
    format: int = FORMAT
    agents: dict[str, AgentEntry] = Field(default_factory=dict)


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def base_version(agent: str, base_model: str = SMALL_MODEL) -> AgentVersion:
    return AgentVersion(agent=agent, number=BASE_VERSION, base_model=base_model,
                        note="the built-in agent on the base model, no adapter")


class VersionStore:
    """``<artifacts>/agents/``: read freely; every change is made under a file lock."""

    def __init__(self, artifacts: Path | str) -> None:
        self.artifacts = Path(artifacts)
        self.root = self.artifacts / "agents"
        self.path = self.root / REGISTRY_FILE

    # -- reading -------------------------------------------------------------------------

    def load(self) -> RegistryData:
        if not self.path.exists():
            return RegistryData()
        try:
            data = RegistryData.model_validate(read_json(self.path))
        except (OSError, ValueError, ValidationError) as exc:
            raise VersionError(f"{self.path}: not a readable agent registry: {exc}") from exc
        if data.format != FORMAT:
            raise VersionError(f"{self.path}: registry format {data.format}, this Pantheon "
                               f"reads format {FORMAT}")
        return data

    def entry(self, agent: str) -> AgentEntry | None:
        return self.load().agents.get(agent)

    def agents(self) -> list[str]:
        return sorted(self.load().agents)

    def versions(self, agent: str) -> list[AgentVersion]:
        """Every version of ``agent``, the base first (just the base when none is registered)."""
        entry = self.entry(agent)
        return list(entry.versions) if entry else [base_version(agent)]

    def get(self, agent: str, number: int) -> AgentVersion:
        for version in self.versions(agent):
            if version.number == number:
                return version
        known = ", ".join(v.ref for v in self.versions(agent))
        raise VersionError(f"{agent}@{number} is not a registered version (known: {known})",
                           hint=f"pantheon agents list --artifacts {self.artifacts}")

    def current(self, agent: str) -> AgentVersion:
        entry = self.entry(agent)
        return self.get(agent, entry.current) if entry else base_version(agent)

    def history(self, agent: str) -> list[Promotion]:
        entry = self.entry(agent)
        return list(entry.history) if entry else []

    def folder(self, agent: str, number: int) -> Path:
        return self.root / agent / str(number)

    # -- integrity -----------------------------------------------------------------------

    def verify(self, version: AgentVersion) -> None:
        """Check every file of ``version`` against its recorded sha256, or refuse it."""
        folder = self.folder(version.agent, version.number)
        for name, digest in sorted(version.files.items()):
            path = folder / name
            if not path.is_file():
                raise TamperedVersion(
                    f"{version.ref}: {path} is missing; refusing to serve this version",
                    hint="restore the file, or register the adapter again as a new version")
            actual = sha256_file(path)
            if actual != digest:
                raise TamperedVersion(
                    f"{version.ref}: {path} changed after it was registered (sha256 "
                    f"{actual[:12]}…, recorded {digest[:12]}…); refusing to serve it",
                    hint="register the adapter again as a new version (pantheon agents "
                    "register), or serve another version")

    def model_file(self, version: AgentVersion) -> Path | None:
        """The verified merged GGUF of ``version`` (None for the base)."""
        if version.gguf is None:
            return None
        self.verify(version)
        return self.folder(version.agent, version.number) / version.gguf

    def adapter_folder(self, version: AgentVersion) -> Path | None:
        """The verified PEFT adapter folder of ``version`` (None for the base)."""
        if version.adapter is None:
            return None
        self.verify(version)
        return self.folder(version.agent, version.number) / version.adapter

    # -- changing ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _editing(self) -> Iterator[RegistryData]:
        """Load, let the caller change, save atomically; one writer at a time."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".registry.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = self.load()
                yield data
                atomic_write_json(self.path, data.model_dump(mode="json"))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def register_version(
        self, agent: str, *, adapter_dir: Path | None, base_model: str = SMALL_MODEL,
        base_path: Path | None = None, parent: int | None = None,
        data: DataInfo | None = None, metrics: dict[str, Any] | None = None,
        extra_files: list[Path] | None = None, note: str = "",
        progress: Callable[[int, int], None] | None = None,
    ) -> AgentVersion:
        """Add ``agent@N`` (N = the next number): copy the adapter, merge it into the base
        GGUF, hash every file, record it. The new version is not current until promoted.

        ``base_path`` is the GGUF to merge into (default: where ``base_model`` resolves).
        ``extra_files`` (loss curve, trainer metrics) are copied into the version folder.
        """
        from pantheon_engine.engines.catalogue import resolve_model
        from pantheon_engine.run.merge_gguf import (
            ADAPTER_CONFIG,
            ADAPTER_WEIGHTS,
            merge_lora_into_gguf,
        )

        if adapter_dir is None:
            raise VersionError("a new version needs an adapter (version 1 is the base)")
        adapter_dir = Path(adapter_dir)
        for needed in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
            if not (adapter_dir / needed).is_file():
                raise VersionError(f"{adapter_dir}: no {needed}",
                                   hint="give the folder a PEFT trainer saved "
                                   "(save_pretrained)")
        base_file = Path(base_path) if base_path else resolve_model(base_model,
                                                                    allow_download=False)
        base_digest = sha256_file(base_file)
        with self._editing() as registry:
            entry = registry.agents.setdefault(agent, AgentEntry(
                versions=[base_version(agent, base_model)]))
            number = max(v.number for v in entry.versions) + 1
            folder = self.folder(agent, number)
            if folder.exists():  # left over from a registration that died half-way
                shutil.rmtree(folder)
            (folder / ADAPTER_DIR).mkdir(parents=True)
            try:
                for item in sorted(adapter_dir.iterdir()):
                    if item.name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
                        shutil.copy2(item, folder / ADAPTER_DIR / item.name)
                for item in extra_files or []:
                    shutil.copy2(item, folder / Path(item).name)
                report = merge_lora_into_gguf(base_file, folder / ADAPTER_DIR,
                                              folder / MERGED_GGUF, progress=progress)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            version = AgentVersion(
                agent=agent, number=number,
                parent=parent if parent is not None else entry.current,
                base_model=base_model, base_sha256=base_digest,
                files=_hash_folder(folder), gguf=MERGED_GGUF, adapter=ADAPTER_DIR,
                data=data or DataInfo(), metrics={**(metrics or {}),
                                                   "merge": _merge_summary(report)},
                note=note)
            atomic_write_json(folder / VERSION_FILE, version.model_dump(mode="json"))
            entry.versions.append(version)
        return version

    def register_training(self, agent: str, train_dir: Path, *, note: str = "",
                          checkpoint: int | None = None,
                          progress: Callable[[int, int], None] | None = None) -> AgentVersion:
        """Register what ``pantheon train`` left in ``train_dir`` as the next version.

        The adapter goes to ``adapter/``; ``data.json`` (data hash, examples per source),
        ``summary.json`` (loss, wall time, peak memory), ``train_config.json`` (the base GGUF
        and its sha256) and ``metrics.jsonl`` (the loss curve) are kept in the version folder
        and read into its record. ``checkpoint``: register the adapter saved after that
        step (``checkpoints/step-<S>/``) instead of the final one; its record says how many
        steps and distinct examples it had.
        """
        train_dir = Path(train_dir)
        adapter_dir = train_dir
        extra_metrics: dict[str, Any] = {}
        if checkpoint is not None:
            adapter_dir = train_dir / "checkpoints" / f"step-{checkpoint}"
            if not adapter_dir.is_dir():
                raise VersionError(f"{train_dir} has no checkpoint after step {checkpoint}",
                                   hint="train with --checkpoints to save some")
        config = _read_dict(train_dir / "train_config.json")
        data = _read_dict(train_dir / "data.json")
        summary = _read_dict(train_dir / "summary.json")
        base_path = Path(config["base_gguf"]) if config.get("base_gguf") else None
        if base_path is not None and not base_path.is_file():
            raise VersionError(f"{train_dir}: the base it was trained on, {base_path}, is gone",
                               hint="merge needs the same GGUF the adapter was trained on")
        if base_path is not None and config.get("base_sha256") and \
                sha256_file(base_path) != config["base_sha256"]:
            raise VersionError(f"{base_path} changed since {train_dir} was trained on it")
        extras = [train_dir / name for name in ("train_config.json", "data.json",
                                                "summary.json", "metrics.jsonl")
                  if (train_dir / name).is_file()]
        metrics = {k: v for k, v in summary.items() if not isinstance(v, list | dict)}
        if checkpoint is not None:
            seen = (summary.get("checkpoints") or {}).get(str(checkpoint))
            extra_metrics = {"checkpoint_step": checkpoint, "examples_seen": seen,
                             "steps": checkpoint}
        return self.register_version(
            agent, adapter_dir=adapter_dir, base_path=base_path,
            base_model=_model_name(base_path) if base_path else SMALL_MODEL,
            data=DataInfo(hash=data.get("sha256"), examples=int(data.get("examples") or 0),
                          sources=dict(data.get("by_source") or {}), path=data.get("path")),
            metrics={**metrics, **extra_metrics}, extra_files=extras, note=note,
            progress=progress)

    def record_eval(self, agent: str, number: int, info: EvalInfo) -> None:
        """Keep ``info`` as the version's latest eval (what ``agents list`` shows)."""
        with self._editing() as registry:
            entry = registry.agents.setdefault(agent, AgentEntry(
                versions=[base_version(agent)]))
            for version in entry.versions:
                if version.number == number:
                    version.eval = info
                    return
            raise VersionError(f"{agent}@{number} is not a registered version")

    def set_current(self, agent: str, number: int, *, action: Literal["promote", "rollback"],
                    why: str, by: str | None = None,
                    evidence: dict[str, Any] | None = None) -> Promotion:
        """Make ``agent@number`` current and append the change to the history.

        No rule is checked here: :func:`pantheon_engine.evals.promote.promote` decides
        whether a promotion is earned, :meth:`rollback` which version comes back.
        """
        with self._editing() as registry:
            entry = registry.agents.setdefault(agent, AgentEntry(
                versions=[base_version(agent)]))
            if not any(v.number == number for v in entry.versions):
                raise VersionError(f"{agent}@{number} is not a registered version")
            change = Promotion(action=action, agent=agent, from_version=entry.current,
                               to_version=number, by=by or current_user(), why=why,
                               evidence=evidence or {})
            entry.current = number
            entry.history.append(change)
        return change

    def previous(self, agent: str) -> int | None:
        """The version a rollback restores: the one current before the last promotion that
        has not been rolled back yet (None: nothing to roll back)."""
        stack: list[int] = []
        for change in self.history(agent):
            if change.action == "promote":
                stack.append(change.from_version)
            elif stack:
                stack.pop()
        return stack[-1] if stack else None

    def rollback(self, agent: str, *, why: str = "", by: str | None = None) -> Promotion:
        """Restore the version that was current before the last promotion."""
        target = self.previous(agent)
        current = self.current(agent)
        if target is None:
            raise VersionError(f"{agent}: nothing to roll back; {current.ref} has been "
                               "current since the registry began",
                               hint="pantheon promote NAME@N makes another version current")
        self.verify(self.get(agent, target))
        return self.set_current(agent, target, action="rollback",
                                why=why or f"rolled back from {current.ref}", by=by)


def _read_dict(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        raise VersionError(f"{path}: not readable JSON: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _model_name(path: Path) -> str:
    """The catalogue name of a cached model file, else its path."""
    from pantheon_engine.engines.catalogue import CATALOGUE, model_path

    for name in CATALOGUE:
        with contextlib.suppress(OSError, ConfigError):
            if model_path(name).resolve() == path.resolve():
                return name
    return str(path)


def _hash_folder(folder: Path) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): sha256_file(path)
            for path in sorted(folder.rglob("*")) if path.is_file()
            and path.name != VERSION_FILE}


def _merge_summary(report: Any) -> dict[str, Any]:
    return {"touched": len(report.touched), "scale": report.scale, "r": report.r,
            "lora_alpha": report.lora_alpha, "max_abs_delta": report.max_abs_delta,
            "seconds": round(report.seconds, 2)}


def files_digest(version: AgentVersion) -> str:
    """One hash over a version's file hashes: a comparison records it, a promotion checks it
    (a version whose files changed since it was measured is not the one measured)."""
    text = "\n".join(f"{name} {digest}" for name, digest in sorted(version.files.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def eval_info(result: Any) -> EvalInfo:
    """An :class:`~pantheon_engine.evals.results.EvalResult` as a version's eval record."""
    return EvalInfo(pass_at_1=result.pass_at_1, interval=tuple(result.pass_at_1_interval),
                    passed=result.passed_samples, total=result.total_samples,
                    eval_id=result.eval_id, suite=result.suite, split=result.split,
                    engine=result.engine, model=result.model, at=utc_now())


def record_eval(store: VersionStore, result: Any) -> bool:
    """Keep a holdout eval as its version's latest (what ``agents list`` shows).

    Only holdout evals count (a pass rate on training tasks says little), and only for
    versions the registry knows: the base of any agent, or a registered version.
    """
    if result.split != "holdout":
        return False
    ref = AgentRef.parse(result.agent)
    agent, number = ref.name, ref.version
    if number is None:
        return False
    known = store.entry(agent)
    if number != BASE_VERSION and (known is None or
                                   not any(v.number == number for v in known.versions)):
        return False
    store.record_eval(agent, number, eval_info(result))
    return True
