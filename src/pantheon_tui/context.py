"""What every screen of the control room shares: folders, clock, time zone, settings.

Settings come from the ``[tui]`` table of ``pantheon.toml`` (the same file as the engine's
``[engine]`` table)::

    [tui]
    theme = "pantheon-day"
    specs = "specs"
    flow = "flows/spec2code.yaml"   # the flow new specs are queued on

    [tui.keys]                        # binding id = keys (comma separated)
    "queue.requeue" = "R,ctrl+r"
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pantheon_engine.config import read_toml, validate_table

DEFAULT_THEME = "pantheon-night"


class TuiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    theme: str = DEFAULT_THEME
    specs: str | None = None
    flow: str | None = None
    keys: dict[str, str] = Field(default_factory=dict)
    sample_window: int = Field(default=720, ge=10, le=100_000,
                               description="samples kept per night panel")


def load_tui_settings(path: Path | None) -> TuiSettings:
    """The ``[tui]`` table of ``path`` (defaults when the file or the table is missing); an
    unknown key is an error naming its line and the closest known name."""
    if path is None or not path.is_file():
        return TuiSettings()
    text, data = read_toml(path)
    return validate_table(TuiSettings, data.get("tui", {}), path=path, text=text, table="tui")


@dataclass
class RoomContext:
    """Folders the control room reads and writes, and how it tells time.

    ``clock`` and ``tz`` are here so tests (and snapshots) can freeze them.
    """

    artifacts: Path
    specs: Path
    flows: Path
    themes: Path
    settings: TuiSettings = field(default_factory=TuiSettings)
    config_path: Path | None = None
    clock: Callable[[], float] = time.time
    tz: tzinfo | None = None  # None: the machine's local time zone
    poll_s: float = 2.0  # how often the queue and the report are read again
    watch: bool = True  # follow metrics.jsonl with watchfiles (tests may poll instead)

    @classmethod
    def from_folder(cls, root: Path, *, artifacts: Path | None = None,
                    specs: Path | None = None, flows: Path | None = None,
                    themes: Path | None = None, config: Path | None = None) -> RoomContext:
        """Defaults relative to the project folder ``root``; explicit paths win."""
        config_path = config or root / "pantheon.toml"
        settings = load_tui_settings(config_path)
        return cls(
            artifacts=(artifacts or root / "artifacts"),
            specs=specs or (root / settings.specs if settings.specs else root / "specs"),
            flows=flows or root / "flows",
            themes=themes or root / "themes",
            settings=settings,
            config_path=config_path,
        )

    def clock_text(self, t: float | None, fmt: str = "%H:%M:%S") -> str:
        """A unix time as wall-clock text in the room's time zone (``-`` for none)."""
        if t is None:
            return "-"
        stamp = datetime.fromtimestamp(t, tz=self.tz) if self.tz else datetime.fromtimestamp(t)
        return stamp.strftime(fmt)

    def ago(self, t: float | None) -> str:
        """How long before now ``t`` was, in the largest unit that fits (``12s``, ``3m``)."""
        if t is None:
            return "-"
        seconds = max(0.0, self.clock() - t)
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds >= size:
                return f"{int(seconds // size)}{unit}"
        return f"{int(seconds)}s"
