"""A node's artifacts (or a job and its run), one file at a time, with syntax highlighting.

The files are listed in the order a triager reads them (:func:`artifact_files`: the error
first). For a run of a document agent (docops) the list also has the document before and
after the run, found in a thread once the screen is up (see :mod:`.viewer_entries`). From
the Queue screen the viewer opens on a job: the job first, then every node of its run.

A file is read, highlighted (Rich ``Syntax``, i.e. pygments; Textual's ``TextArea`` would
need tree-sitter) and laid out into lines in a thread worker, and comes back as a message;
:class:`CodeView` then paints only the lines in sight. Big files are cut at
:data:`TRUNCATE_BYTES` with a note, so a 2 GB log never stalls the screen.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.syntax import Syntax
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from pantheon_engine.night.jobqueue import Job
from pantheon_tui.screens.base import PinnedKeysScreen
from pantheon_tui.screens.viewer_entries import (
    Entry,
    document_entries,
    job_entry,
    node_entries,
    run_entries,
)

if TYPE_CHECKING:
    from pantheon_tui.app import ControlRoom

TRUNCATE_BYTES = 200_000
# Control characters other than tab and newline would reach the terminal as they are.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
LEXERS = {
    ".json": "json", ".jsonl": "json", ".patch": "diff", ".diff": "diff", ".py": "python",
    ".log": "text", ".txt": "text", ".md": "markdown", ".yaml": "yaml", ".yml": "yaml",
    ".toml": "toml", ".sh": "bash", ".html": "html",
}


@dataclass(frozen=True)
class RenderedFile:
    """A file ready to show: highlighted text, the lexer used and a note (or "")."""

    path: Path
    text: Text
    lexer: str
    size: int
    note: str = ""


def human_size(size: int) -> str:
    for unit, scale in (("MB", 1_000_000), ("KB", 1_000)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def _read_head(path: Path, limit: int) -> tuple[bytes, int]:
    """The first ``limit`` bytes of ``path`` and its size."""
    with path.open("rb") as handle:
        return handle.read(limit), os.fstat(handle.fileno()).st_size


def _as_code(path: Path, raw: bytes, truncated: bool) -> tuple[str, str, list[str]]:
    """(code, lexer, notes): JSON pretty-printed when whole and valid, else as written."""
    if truncated:  # cut at a line end so no line (or UTF-8 sequence) shows half
        cut = raw.rfind(b"\n")
        raw = raw[: cut + 1] if cut > 0 else raw
    code = raw.decode("utf-8", errors="replace").replace("\r\n", "\n")
    lexer = LEXERS.get(path.suffix.lower(), "text")
    notes: list[str] = []
    if path.suffix.lower() == ".json" and not truncated:
        try:
            code = json.dumps(json.loads(code), indent=2, ensure_ascii=False)
        except ValueError:
            notes.append("not valid JSON: shown as written")
            lexer = "text"
    return code, lexer, notes


def render_file(path: Path, *, dark: bool = True, limit: int = TRUNCATE_BYTES) -> RenderedFile:
    """Read (at most ``limit`` bytes of) ``path`` and highlight it by its file type."""
    try:
        raw, size = _read_head(path, limit)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return RenderedFile(path, Text(f"could not read {path.name}: {reason}"), "text", 0,
                            "unreadable")
    if b"\x00" in raw[:8192]:
        return RenderedFile(path, Text(f"binary file, {human_size(size)}"), "text", size,
                            "binary")
    truncated = size > len(raw)
    code, lexer, notes = _as_code(path, raw, truncated)
    if truncated:
        notes.append(f"showing the first {human_size(limit)} of {human_size(size)}")
    return _rendered(path, code, lexer, size, "; ".join(notes), dark=dark)


def render_entry(entry: Entry, *, dark: bool = True) -> RenderedFile:
    """An entry of the viewer's list: its file read, or the text it carries."""
    if entry.text is None:
        return render_file(entry.path, dark=dark)
    code = entry.text[:TRUNCATE_BYTES]
    note = entry.note
    if len(entry.text) > len(code):
        note = "; ".join(filter(None, [note, f"showing the first {human_size(len(code))}"]))
    return _rendered(entry.path, code, entry.lexer or "text", len(entry.text.encode()), note,
                     dark=dark)


def _rendered(path: Path, code: str, lexer: str, size: int, note: str, *,
              dark: bool) -> RenderedFile:
    if not code.strip():
        return RenderedFile(path, Text("(empty file)", style="italic"), lexer, size, note)
    text = _highlight(code, lexer, dark=dark)
    text.rstrip()
    return RenderedFile(path, text, lexer, size, note)


def _highlight(code: str, lexer: str, *, dark: bool) -> Text:
    """Pygments by ``lexer``; plain text with ANSI colours (a pytest log) keeps them.
    Other control characters show as U+FFFD, so nothing reaches the terminal raw."""
    if lexer == "text" and "\x1b[" in code:
        text = Text.from_ansi(code)
        # one character for one: the colour spans stay where they were
        return Text(CONTROL.sub("\ufffd", text.plain), spans=text.spans)
    syntax = Syntax(CONTROL.sub("\ufffd", code), lexer,
                    theme="ansi_dark" if dark else "ansi_light", background_color="default")
    return syntax.highlight(syntax.code)


def layout_lines(text: Text, width: int | None) -> tuple[list[Strip], int]:
    """``text`` as one strip per screen line: wrapped at ``width``, or one per text line
    when ``width`` is None; and the widest line's width. Safe off the event loop (it uses
    a console of its own)."""
    console = Console(width=max(width or 1, 1), color_system="truecolor", force_terminal=True,
                      legacy_windows=False)
    if width is None:
        lines = text.split("\n", allow_blank=True)
    else:
        lines = text.wrap(console, max(width, 1), overflow="fold", no_wrap=False)
    strips = [Strip(list(line.render(console)), line.cell_len) for line in lines]
    return strips, max((strip.cell_length for strip in strips), default=0)


class CodeView(ScrollView, can_focus=True):
    """Pre-rendered lines, painted only where they show (Textual's line API)."""

    DEFAULT_CSS = """
    CodeView { height: 1fr; width: 1fr; overflow-y: scroll; padding: 0 1; }
    """

    class Resized(Message):
        """The view changed size (wrapped lines may need laying out again)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.strips: list[Strip] = []

    def on_resize(self, _event: events.Resize) -> None:
        self.post_message(self.Resized())

    def show(self, strips: list[Strip], width: int, *, home: bool) -> None:
        self.strips = strips
        self.virtual_size = Size(width, len(strips))
        if home:
            self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        style = self.rich_style
        width = self.size.width
        if index >= len(self.strips):
            return Strip.blank(width, style)
        strip = self.strips[index].apply_style(style)
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_offsets(scroll_x, index)


class ArtifactViewer(PinnedKeysScreen):
    """The files of ``runs/<run_id>/<node>`` (or of every node of the run, ``node`` None):
    a list on the left, the content on the right. ``lead`` entries come first (a job)."""

    BINDINGS = [
        Binding("escape,backspace", "close", "Back", id="viewer.close"),
        Binding("down,j,tab,right_square_bracket", "step(1)", "Next file", id="viewer.next",
                priority=True),
        Binding("up,k,shift+tab,left_square_bracket", "step(-1)", "Previous file",
                id="viewer.previous", priority=True),
        Binding("y", "copy_path", "Copy path", id="viewer.copy"),
        Binding("w", "toggle_wrap", "Wrap", id="viewer.wrap"),
    ]

    DEFAULT_CSS = """
    ArtifactViewer #viewer-title {
        height: auto; max-height: 3; padding: 0 1; background: $panel; color: $foreground;
    }
    ArtifactViewer #viewer-body { height: 1fr; }
    ArtifactViewer #viewer-files {
        width: 32; height: 1fr; border: none; border-right: vkey $primary;
        background: $surface;
    }
    """

    class Shown(Message):
        """An entry is read and laid out (posted from a worker thread); ``wrap`` is the
        width it was wrapped at, None for unwrapped."""

        def __init__(self, entry: Entry, rendered: RenderedFile, strips: list[Strip],
                     width: int, wrap: int | None, home: bool) -> None:
            super().__init__()
            self.entry = entry
            self.rendered = rendered
            self.strips = strips
            self.width = width
            self.wrap = wrap
            self.home = home

    class DocumentsFound(Message):
        """The run's document before and after (posted from a worker thread)."""

        def __init__(self, entries: list[Entry]) -> None:
            super().__init__()
            self.entries = entries

    def __init__(self, artifacts: Path, run_id: str | None, node: str | None = None, *,
                 lead: Sequence[Entry] = (), heading: str | None = None) -> None:
        super().__init__()
        self.artifacts = Path(artifacts)
        self.run_id = run_id
        self.node = node
        if run_id is None:
            found: list[Entry] = []
        elif node is None:
            found = run_entries(self.artifacts, run_id)
        else:
            found = node_entries(self.artifacts, run_id, node)
        self.files: list[Path] = [entry.path for entry in found]  # the run's own files
        self.lead = list(lead)
        self.entries: list[Entry] = [*self.lead, *found]
        self.heading = heading or (f"{run_id} / {node}" if node else str(run_id))
        self.documents: list[Entry] | None = None  # None: not looked for yet
        self.index = 0
        self.wrap = True
        self.shown: RenderedFile | None = None  # what is on screen
        self.shown_entry: Entry | None = None  # the entry it shows
        self._laid_at: int | None = None  # the width the shown lines were wrapped at

    @classmethod
    def for_job(cls, artifacts: Path, job: Job, queue_path: Path) -> ArtifactViewer:
        """A job of the queue: the job itself, then its run's files (when it has a run)."""
        run_id = job.run_id if job.run_id and (Path(artifacts) / "runs" / job.run_id
                                               ).is_dir() else None
        heading = f"job {job.id} · {job.state} · " + (f"run {run_id}" if run_id
                                                      else "no run yet")
        return cls(artifacts, run_id, None, lead=[job_entry(job, queue_path)],
                   heading=heading)

    @property
    def folder(self) -> Path:
        """The node's folder (the run's, for a whole run; the artifacts folder: no run)."""
        if self.run_id is None:
            return self.artifacts
        run = self.artifacts / "runs" / self.run_id
        return run / self.node if self.node else run

    @property
    def current(self) -> Entry | None:
        """The entry the list has highlighted (its content may still be on its way)."""
        return self.entries[self.index] if self.entries else None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="viewer-title", markup=False)
        with Horizontal(id="viewer-body"):
            files = OptionList(*self._options(), id="viewer-files")
            files.can_focus = False  # the keys move between files from anywhere
            yield files
            yield CodeView(id="viewer-content")
        yield Footer()

    def _options(self) -> list[Option]:
        return [Option(Text(entry.name, no_wrap=True, overflow="ellipsis"), id=f"entry-{i}")
                for i, entry in enumerate(self.entries)]

    def on_mount(self) -> None:
        self.query_one(CodeView).focus()
        # after layout (the width to wrap at); a key pressed meanwhile has its way
        self.call_after_refresh(lambda: self._select(self.index))
        if self.run_id is not None:
            self._find_documents(self.artifacts, self.run_id)

    # --- the document before and after -----------------------------------------------

    @work(thread=True, exclusive=True, group="viewer-documents", exit_on_error=False)
    def _find_documents(self, artifacts: Path, run_id: str) -> None:
        self.post_message(self.DocumentsFound(document_entries(artifacts, run_id)))

    @on(DocumentsFound)
    def _documents_found(self, message: DocumentsFound) -> None:
        """Put the document before and after the lead entries and the error."""
        self.documents = message.entries
        if not message.entries:
            return
        at = 0
        while at < len(self.entries) and (at < len(self.lead) or self.entries[at].is_error):
            at += 1
        self.entries[at:at] = message.entries
        if self.index >= at:
            self.index += len(message.entries)
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(self._options())
        options.highlighted = self.index

    # --- showing a file ------------------------------------------------------------------

    def _wrap_width(self) -> int | None:
        if not self.wrap:
            return None
        return max(self.query_one(CodeView).scrollable_content_region.width, 20)

    def _select(self, index: int) -> None:
        if not self.entries:
            self._title(f"no files in {self.folder}")
            return
        self.index = index % len(self.entries)
        self.query_one(OptionList).highlighted = self.index
        entry = self.entries[self.index]
        self._title(f"{entry.name} · reading …")
        self._read_entry(entry, self.app.current_theme.dark, self._wrap_width())

    @work(thread=True, exclusive=True, group="viewer-read", exit_on_error=False)
    def _read_entry(self, entry: Entry, dark: bool, wrap: int | None) -> None:
        rendered = render_entry(entry, dark=dark)
        strips, width = layout_lines(rendered.text, wrap)
        self.post_message(self.Shown(entry, rendered, strips, width, wrap, home=True))

    @work(thread=True, exclusive=True, group="viewer-read", exit_on_error=False)
    def _relayout(self, entry: Entry, rendered: RenderedFile, wrap: int | None) -> None:
        strips, width = layout_lines(rendered.text, wrap)
        self.post_message(self.Shown(entry, rendered, strips, width, wrap, home=False))

    @on(Shown)
    def _shown(self, message: Shown) -> None:
        rendered = message.rendered
        if message.entry is not self.current:
            return  # the user moved on while it was read
        self.shown, self.shown_entry = rendered, message.entry
        self._laid_at = message.wrap
        self.query_one(CodeView).show(message.strips, message.width, home=message.home)
        parts = [message.entry.name, human_size(rendered.size), rendered.lexer]
        if rendered.note:
            parts.insert(1, rendered.note)
        self._title(" · ".join(parts))

    @property
    def title_text(self) -> str:
        """What the line over the content says (the run, the node, the entry, its note)."""
        return str(self.query_one("#viewer-title", Static).render())

    @on(CodeView.Resized)
    def _resized(self) -> None:
        if self.shown is not None and self.current is not None \
                and self._wrap_width() != self._laid_at:
            self._relayout(self.current, self.shown, self._wrap_width())

    def _title(self, what: str) -> None:
        self.query_one("#viewer-title", Static).update(f"{self.heading} · {what}")

    @on(OptionList.OptionSelected, "#viewer-files")
    def _clicked(self, event: OptionList.OptionSelected) -> None:
        # a click selects; highlights alone also come from the keys and from the list
        # being filled again, which must not move the viewer back
        if event.option_index != self.index:
            self._select(event.option_index)

    # --- actions -------------------------------------------------------------------------

    def action_close(self) -> None:
        self.dismiss()

    def action_step(self, step: int) -> None:
        if self.entries:
            self._select(self.index + step)

    def action_copy_path(self) -> None:
        target = self.current.path if self.current is not None else self.folder
        room: ControlRoom = self.app  # type: ignore[assignment]
        room.copy_path(str(target.absolute()))

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        if self.shown is not None and self.current is not None:
            self._relayout(self.current, self.shown, self._wrap_width())
