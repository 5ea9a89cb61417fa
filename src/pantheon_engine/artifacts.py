"""The artifact bundle of a run, written atomically, sealed by ``manifest.json``.

Layout (see docs/artifacts.md)::

    <artifacts>/runs/<run_id>/run.json
    <artifacts>/runs/<run_id>/<node_id>/input.json prompt.txt tool_calls.jsonl model_calls.jsonl
                                        output.json diff.patch tests.log report.json review.json
                                        metrics.json error.json
    <artifacts>/runs/<run_id>/FAILED.json      (only when the run failed)
    <artifacts>/runs/<run_id>/manifest.json    (sha256 of every file, written last)
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pantheon_engine.atomic import (
    append_jsonl,
    atomic_write_json,
    atomic_write_text,
    iter_jsonl,
    read_json,
)

MANIFEST = "manifest.json"
_NODE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


def new_run_id(flow_name: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    slug = re.sub(r"[^A-Za-z0-9]+", "-", flow_name).strip("-").lower() or "run"
    return f"{stamp}-{slug}-{secrets.token_hex(3)}"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _jsonable(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    return data


class NodeArtifacts:
    """One node's folder. Every write is atomic; JSONL files grow one whole line at a time."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.dir / name

    def write_json(self, name: str, data: Any) -> Path:
        target = self.dir / name
        atomic_write_json(target, _jsonable(data))
        return target

    def write_text(self, name: str, text: str) -> Path:
        target = self.dir / name
        atomic_write_text(target, text)
        return target

    def append(self, name: str, record: Any) -> None:
        append_jsonl(self.dir / name, _jsonable(record))


class RunArtifacts:
    def __init__(self, artifacts_root: Path, run_id: str) -> None:
        self.root = Path(artifacts_root)
        self.run_id = run_id
        self.dir = self.root / "runs" / run_id
        self.dir.mkdir(parents=True, exist_ok=True)

    def node(self, node_id: str) -> NodeArtifacts:
        if not _NODE_ID.match(node_id):
            raise ValueError(f"invalid node id for an artifact folder: {node_id!r}")
        return NodeArtifacts(self.dir / node_id)

    def write_run(self, data: dict[str, Any]) -> None:
        atomic_write_json(self.dir / "run.json", data)

    def write_failed(self, data: dict[str, Any]) -> None:
        atomic_write_json(self.dir / "FAILED.json", data)

    def write_manifest(self) -> dict[str, Any]:
        """Hash every file of the bundle (but the manifest) and write the manifest last."""
        files: dict[str, dict[str, Any]] = {}
        for path in sorted(self.dir.rglob("*")):
            if not path.is_file() or path.name == MANIFEST or path.name.endswith(".tmp"):
                continue
            rel = path.relative_to(self.dir).as_posix()
            files[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        manifest = {"run_id": self.run_id, "written_at": utc_now(), "files": files}
        atomic_write_json(self.dir / MANIFEST, manifest)
        return manifest


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_manifest(run_dir: Path) -> list[str]:
    """Return the problems found (missing, changed or unlisted files); empty when intact."""
    manifest = read_json(run_dir / MANIFEST)
    problems = []
    listed = manifest.get("files", {})
    for rel, meta in listed.items():
        path = run_dir / rel
        if not path.exists():
            problems.append(f"missing: {rel}")
        elif sha256_file(path) != meta["sha256"]:
            problems.append(f"changed: {rel}")
    for path in run_dir.rglob("*"):
        if path.is_file() and path.name != MANIFEST:
            rel = path.relative_to(run_dir).as_posix()
            if rel not in listed:
                problems.append(f"unlisted: {rel}")
    return problems


def read_model_calls(run_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The recorded model replies of a run, per node (the replay engine's source)."""
    calls: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(Path(run_dir).glob("*/model_calls.jsonl")):
        calls[path.parent.name] = list(iter_jsonl(path))
    return calls
