"""The flows that ship with Pantheon, found by name from any folder.

``pantheon run docops``, ``pantheon queue add docops`` and ``pantheon flows check docops``
name a built-in flow; a path to a YAML file names the user's own. A path that exists always
wins, so a project can keep its own ``docops.yaml`` next to its agents.
"""

from __future__ import annotations

from pathlib import Path

from pantheon_engine.errors import SpecError

__all__ = ["BUILTIN_DIR", "agent_roots", "builtin_flow", "builtin_names", "is_builtin",
           "resolve_flow"]

BUILTIN_DIR = Path(__file__).resolve().parent
_SUFFIXES = (".yaml", ".yml")


def builtin_names() -> list[str]:
    """Names of the built-in flows (``docops``, ``spec2code``), sorted."""
    return sorted(p.stem for p in BUILTIN_DIR.iterdir() if p.suffix in _SUFFIXES)


def builtin_flow(name: str) -> Path | None:
    """The packaged file of the built-in flow ``name`` (``docops`` or ``docops.yaml``)."""
    stem = name[: -len(Path(name).suffix)] if Path(name).suffix in _SUFFIXES else name
    if not stem or "/" in stem or "\\" in stem or stem.startswith("."):
        return None
    for suffix in _SUFFIXES:
        candidate = BUILTIN_DIR / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def is_builtin(flow_file: Path | str) -> bool:
    """Whether ``flow_file`` is one of the packaged flows."""
    return Path(flow_file).resolve().parent == BUILTIN_DIR


def resolve_flow(name_or_path: Path | str, base: Path | None = None) -> Path:
    """An existing flow file (taken from ``base``, default the current folder) or a
    built-in flow's name, as an absolute path; :class:`SpecError` listing the built-ins
    otherwise."""
    text = str(name_or_path)
    candidate = Path(text).expanduser()
    if not candidate.is_absolute():
        candidate = (base if base is not None else Path.cwd()) / candidate
    if candidate.is_file():
        return candidate.resolve()
    packaged = builtin_flow(text)
    if packaged is not None:
        return packaged
    names = ", ".join(builtin_names())
    raise SpecError(f"{text}: no such flow file, and no built-in flow has this name",
                    hint=f"built-in flows: {names}; or give the path of a flow YAML file")


def agent_roots(flow_file: Path | str) -> list[Path]:
    """Folders whose ``agents/`` hold the user agents a flow may name.

    A user's flow sits in ``<project>/flows/``, so its project folder is searched (the
    current folder always is); a built-in flow adds nothing, its agents are built in.
    """
    if is_builtin(flow_file):
        return []
    return [Path(flow_file).resolve().parent.parent]
