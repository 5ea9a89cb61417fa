"""The help screen: every key of every screen, by id, with the user's overrides applied."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from pantheon_tui.keymap import BindingInfo

INTRO = (
    "Pantheon control room. The engine writes files under the artifacts folder; these "
    "screens read them and never wait on the engine. Keys below can be changed in "
    "pantheon.toml under [tui.keys] by id; ctrl+p opens the command palette."
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close", id="help.close"),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; height: 90%; border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, bindings: list[BindingInfo], problems: list[str]) -> None:
        super().__init__()
        self.bindings = bindings
        self.problems = problems

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text(INTRO), id="help-intro")
            yield Static(self._table(), id="help-keys")
            if self.problems:
                yield Static(Text("\n".join(self.problems), style="bold red"),
                             id="help-problems")

    def _keys(self, keys: str) -> str:
        """``question_mark,f1`` as the footer writes it: ``? f1``."""
        shown = [self.app.get_key_display(Binding(k.strip(), "")) for k in keys.split(",")]
        return " ".join(dict.fromkeys(shown))

    def _table(self) -> Table:
        table = Table(expand=True, box=None, header_style="bold")
        for column in ("screen", "keys", "action", "id"):
            table.add_column(column)
        for info in self.bindings:
            table.add_row(info.scope, self._keys(info.keys), info.description, info.id)
        return table
