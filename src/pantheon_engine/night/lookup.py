"""What reading commands read must exist: the artifacts folder, a night.

``report``, ``queue list`` and the room only read. A mistyped ``--artifacts`` or
``--night`` must not read as "nothing happened" (an empty report, exit 0), nor leave a new
folder or queue file behind: each is an error that names what is missing and what exists.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from pantheon_engine.errors import ConfigError
from pantheon_engine.night.tail import night_dirs

__all__ = ["require_artifacts", "require_night"]

#: names listed in an error before "and N more"
_SHOWN = 10
FIRST_STEPS = "run `pantheon demo` (a demo repository and its jobs), then `pantheon night`"


def _similar(folder: Path) -> list[str]:
    """Folders next to ``folder`` whose names are close to its name."""
    parent = folder.parent if str(folder.parent) else Path(".")
    try:
        siblings = [p.name for p in parent.iterdir() if p.is_dir()]
    except OSError:
        return []
    return difflib.get_close_matches(folder.name, siblings, n=3)


def require_artifacts(artifacts: Path | str, *, option: str = "--artifacts") -> Path:
    """``artifacts`` when it is an existing folder; else :class:`ConfigError` saying which
    folder is missing, similar folders next to it, and what to run first."""
    folder = Path(artifacts)
    if folder.is_dir():
        return folder
    if folder.exists():
        raise ConfigError(f"{option} {folder}: not a folder ({folder.resolve()})")
    close = _similar(folder)
    hint = (f"did you mean {option} {', '.join(str(folder.parent / c) for c in close)}?"
            if close else f"nothing has run here yet: {FIRST_STEPS}; or pass {option} "
                          "with the folder a night wrote")
    raise ConfigError(f"no artifacts folder {folder} (looked at {folder.resolve()})",
                      hint=hint)


def _listing(names: list[str]) -> str:
    shown = names[-_SHOWN:]
    more = f"{len(names) - _SHOWN} older and " if len(names) > _SHOWN else ""
    return f"{more}{', '.join(shown)} (newest last)"


def require_night(artifacts: Path | str, night_id: str) -> Path:
    """The folder of night ``night_id`` under ``artifacts/nights``; else
    :class:`ConfigError` listing the nights there (or saying none has run)."""
    nights = night_dirs(require_artifacts(artifacts))
    names = [p.name for p in nights]
    if night_id in names:
        return nights[names.index(night_id)]
    where = Path(artifacts) / "nights"
    if not names:
        raise ConfigError(f"--night {night_id}: no night has run in {artifacts} yet",
                          hint="run `pantheon night`; its report is then "
                               "`pantheon report`")
    close = difflib.get_close_matches(night_id, names, n=1)
    hint = f"did you mean --night {close[0]}?" if close else "pick one of the nights listed"
    raise ConfigError(f"--night {night_id}: no such night in {where}; nights there: "
                      f"{_listing(names)}", hint=hint)
