"""The Specs screen: browse, write and check task specs, and queue one with a key.

The left column lists the spec files of the specs folder (a file that cannot be read is
listed with its error in red) under a ``+ new spec`` entry. Moving through the list shows
each spec in the form on the right; the form is checked against the input model of the
chosen flow on every key press.

Choices made here (the issue left them open):

* **Edits are never lost by moving on.** The form of every spec you changed is kept as a
  draft (marked ``●`` in the list) until you save it (ctrl+s) or revert it (ctrl+r); going
  back to the spec brings the draft back. Drafts live as long as the control room does.
* **Saving a spec that does not fit the flow is allowed**, with a warning naming the
  fields: a half-written spec is worth keeping. Saving an empty form is refused. A spec
  file that cannot be read is never written here: saving while it is selected writes a
  *new* file named after the title.
* **Queueing takes the form as shown** (unsaved edits included) and refuses, naming the
  fields, when it does not fit the flow. A relative workspace resolves against the specs
  folder (the folder of the spec file).
* The form edits the fields of the ``spec2code`` input (title, scope, acceptance, files,
  tests, workspace); any other keys of a spec file are kept as they are on save.

This module holds the screen: the list, the form, the flow and the actions. The form as
plain data (:class:`SpecForm`) and the list's entries are
:mod:`pantheon_tui.screens.specs_data`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Header, Input, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from pantheon_engine.errors import PantheonError
from pantheon_engine.night.jobqueue import Job
from pantheon_engine.night.specs import (
    FieldProblem,
    FlowInput,
    SpecEntry,
    enqueue,
    list_flows,
    list_specs,
    load_input,
    pick_flow,
    save_spec,
    spec_filename,
)
from pantheon_tui.screens.base import RoomScreen
from pantheon_tui.screens.specs_data import (
    FORM_FIELDS,
    SpecForm,
    entry_prompt,
    new_prompt,
    problem_fields,
    short_error,
)

NEW_ID = "new"  # option id of the "+ new spec" entry


class SpecsScreen(RoomScreen):
    """Spec files on the left, the form of the highlighted one on the right."""

    SCREEN_NAME = "specs"
    TITLE = "Specs"
    BINDINGS = [
        Binding("a,ctrl+n", "new_spec", "New", id="specs.new"),
        Binding("e", "edit", "Edit", id="specs.edit"),
        Binding("ctrl+s", "save", "Save", id="specs.save", priority=True),
        Binding("Q,shift+q", "queue", "Queue it", id="specs.queue"),
        Binding("ctrl+e", "queue", "Queue it", id="specs.queue_anywhere", priority=True,
                show=False),
        Binding("f", "focus_flow", "Flow", id="specs.flow"),
        Binding("ctrl+r", "revert", "Revert", id="specs.revert", priority=True),
        Binding("escape", "to_list", "List", id="specs.list"),
    ]
    DEFAULT_CSS = """
    SpecsScreen #specs-body { height: 1fr; }
    SpecsScreen #spec-side { width: 38; border-right: vkey $foreground 20%; }
    SpecsScreen #spec-list { height: 1fr; border: none; }
    SpecsScreen #spec-form { width: 1fr; padding: 0 1; }
    SpecsScreen #spec-where { height: 1; color: $text-muted; }
    SpecsScreen #spec-scope { height: 6; }
    SpecsScreen #spec-acceptance { height: 7; }
    SpecsScreen .spec-row { height: auto; }
    SpecsScreen .spec-row > * { width: 1fr; }
    SpecsScreen TextArea.-invalid { border: tall $error 60%; }
    SpecsScreen #spec-problems { height: auto; padding: 0 1; }
    """

    class Enqueued(Message):
        """A queueing thread finished: ``job`` on success, else ``error``."""

        def __init__(self, job: Job | None, flow: str, note: str, error: str | None) -> None:
            super().__init__()
            self.job = job
            self.flow = flow
            self.note = note
            self.error = error

    def __init__(self) -> None:
        super().__init__()
        self._entries: list[SpecEntry] = []
        self._key: Path | None = None  # the file in the form; None: the new spec
        self._baseline = SpecForm()  # the form as the file has it
        self._extra: dict[str, Any] = {}  # keys of the file the form does not edit
        self._broken: str | None = None  # read error of the selected file
        self._drafts: dict[Path | None, SpecForm] = {}
        self._flow_inputs: dict[Path, FlowInput | str] = {}

    # --- layout ----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="specs-body"):
            with Vertical(id="spec-side"):
                yield OptionList(id="spec-list")
            with VerticalScroll(id="spec-form"):
                yield Static(id="spec-where")
                yield self._input("spec-title", "Title", "what to build, in a line")
                yield self._area("spec-scope", "Scope")
                yield self._area("spec-acceptance", "Acceptance (one item a line)")
                yield self._input("spec-files", "Files", "paths the change may write, a, b")
                with Horizontal(classes="spec-row"):
                    yield self._input("spec-tests", "Tests", "tests")
                    yield self._input("spec-workspace", "Workspace",
                                      "folder of the code (relative: to the spec file)")
                yield Select[Path]([], id="spec-flow", prompt="no flow")
                yield Static(id="spec-problems")
        yield Footer()

    @staticmethod
    def _input(widget_id: str, title: str, placeholder: str) -> Input:
        widget = Input(id=widget_id, placeholder=placeholder)
        widget.cursor_blink = False
        widget.border_title = title
        return widget

    @staticmethod
    def _area(widget_id: str, title: str) -> TextArea:
        widget = TextArea(id=widget_id, soft_wrap=True, show_line_numbers=False)
        widget.cursor_blink = False
        widget.border_title = title
        return widget

    def on_mount(self) -> None:
        self._set_up_flows()
        self.query_one("#spec-flow SelectCurrent").border_title = "Flow"
        first = list_specs(self.ctx.specs)
        self._reload_list(select=first[0].path if first else None)
        self.query_one("#spec-list", OptionList).focus()

    def on_screen_resume(self) -> None:
        if self._entries or self.ctx.specs.is_dir():
            self._reload_list(select=self._key)

    # --- flows -----------------------------------------------------------------------

    def _set_up_flows(self) -> None:
        flows = [p.resolve() for p in list_flows(self.ctx.flows)]
        wanted = self._configured_flow()
        chosen = pick_flow(self.ctx.flows, wanted)
        chosen = chosen.resolve() if chosen is not None else None
        if wanted is not None and not wanted.is_file():
            self.notify(f"tui.flow {wanted} is not a file; queueing on "
                        f"{chosen.stem if chosen else 'no flow'}",
                        title="configuration", severity="warning")
        if chosen is not None and chosen not in flows:
            flows.append(chosen)
        select = self.query_one("#spec-flow", Select)
        select.set_options([(path.stem, path) for path in flows])
        if chosen is not None:
            select.value = chosen

    def _configured_flow(self) -> Path | None:
        """``[tui] flow`` of the settings; a relative path is taken from the config's folder."""
        if not self.ctx.settings.flow:
            return None
        path = Path(self.ctx.settings.flow).expanduser()
        if not path.is_absolute():
            base = self.ctx.config_path.parent if self.ctx.config_path else Path.cwd()
            path = base / path
        return path.resolve()

    def flow_input(self) -> FlowInput | str | None:
        """The chosen flow, loaded once; a string says why it cannot be loaded."""
        value = self.query_one("#spec-flow", Select).value
        if not isinstance(value, Path):
            return None
        if value not in self._flow_inputs:
            try:
                self._flow_inputs[value] = FlowInput(value)
            except (PantheonError, OSError) as exc:
                self._flow_inputs[value] = f"{value.name}: {getattr(exc, 'message', exc)}"
        return self._flow_inputs[value]

    # --- the list --------------------------------------------------------------------

    def _reload_list(self, select: Path | None) -> None:
        """Read the specs folder again and highlight ``select`` (None: the new spec)."""
        self._entries = list_specs(self.ctx.specs)
        options = self.query_one("#spec-list", OptionList)
        options.clear_options()
        options.add_options([Option(self._new_prompt(), id=NEW_ID)])
        options.add_options([Option(self._entry_prompt(e), id=str(e.path))
                             for e in self._entries])
        ids = [NEW_ID, *(str(e.path) for e in self._entries)]
        wanted = NEW_ID if select is None else str(select)
        options.highlighted = ids.index(wanted) if wanted in ids else 0
        self._show(self._highlighted_key())

    def _new_prompt(self) -> Text:
        return new_prompt(self._drafts.get(None))

    def _entry_prompt(self, entry: SpecEntry) -> Text:
        return entry_prompt(entry, entry.path in self._drafts)

    def _refresh_prompt(self, key: Path | None) -> None:
        options = self.query_one("#spec-list", OptionList)
        if key is None:
            options.replace_option_prompt(NEW_ID, self._new_prompt())
            return
        entry = next((e for e in self._entries if e.path == key), None)
        if entry is not None:
            options.replace_option_prompt(str(key), self._entry_prompt(entry))

    def _highlighted_key(self) -> Path | None:
        option = self.query_one("#spec-list", OptionList).highlighted_option
        if option is None or option.id in (None, NEW_ID):
            return None
        return Path(option.id)

    @on(OptionList.OptionHighlighted, "#spec-list")
    def _highlighted(self) -> None:
        # the widget's highlight now, not the message's: a reload posts several
        key = self._highlighted_key()
        if key != self._key:
            self._show(key)

    @on(OptionList.OptionSelected, "#spec-list")
    def _selected(self) -> None:
        self.action_edit()

    # --- the form --------------------------------------------------------------------

    def _show(self, key: Path | None) -> None:
        """Put spec ``key`` in the form, keeping the form being left as a draft if changed."""
        self._keep_draft()
        self._key = key
        self._baseline, self._extra, self._broken = SpecForm(), {}, None
        entry = next((e for e in self._entries if e.path == key), None)
        if entry is not None and entry.error is not None:
            self._broken = short_error(entry)
        elif key is not None:
            try:
                data = load_input(key)
            except PantheonError as exc:
                self._broken = getattr(exc, "message", str(exc)).replace(str(key), key.name)
            else:
                self._baseline = SpecForm.from_data(data)
                self._extra = {k: v for k, v in data.items() if k not in FORM_FIELDS}
        self._fill(self._drafts.get(key, self._baseline))
        self._check()

    def _keep_draft(self) -> None:
        form = self.read_form()
        if form != self._baseline:
            self._drafts[self._key] = form
        else:
            self._drafts.pop(self._key, None)

    def read_form(self) -> SpecForm:
        """The form's values as they are now."""
        return SpecForm(
            title=self.query_one("#spec-title", Input).value,
            scope=self.query_one("#spec-scope", TextArea).text,
            acceptance=self.query_one("#spec-acceptance", TextArea).text,
            files=self.query_one("#spec-files", Input).value,
            tests=self.query_one("#spec-tests", Input).value,
            workspace=self.query_one("#spec-workspace", Input).value,
        )

    def _fill(self, form: SpecForm) -> None:
        for name in ("title", "files", "tests", "workspace"):
            widget = self.query_one(f"#spec-{name}", Input)
            widget.value = getattr(form, name)
            widget.cursor_position = 0
        for name in ("scope", "acceptance"):
            area = self.query_one(f"#spec-{name}", TextArea)
            if area.text != getattr(form, name):
                area.load_text(getattr(form, name))

    @on(Input.Changed, "#spec-form Input")
    @on(TextArea.Changed, "#spec-form TextArea")
    @on(Select.Changed, "#spec-flow")
    def _form_changed(self) -> None:
        was_draft = self._key in self._drafts
        self._keep_draft()
        if (self._key in self._drafts) != was_draft or (self._key is None and was_draft):
            self._refresh_prompt(self._key)
        self._check()

    def current_problems(self) -> list[FieldProblem]:
        """How the form misses the chosen flow's input (empty: it fits)."""
        flow = self.flow_input()
        if not isinstance(flow, FlowInput):
            return []
        return flow.problems(self.read_form().to_data(self._extra))

    def _check(self) -> None:
        """Show where the form is from, and every way it misses the flow's input."""
        form = self.read_form()
        self.query_one("#spec-where", Static).update(self._where(form))
        flow = self.flow_input()
        problems = flow.problems(form.to_data(self._extra)) if isinstance(flow, FlowInput) else []
        bad = set(problem_fields(problems))
        for name in FORM_FIELDS:
            self.query_one(f"#spec-{name}").set_class(name in bad, "-invalid")
        text = Text()
        if self._broken is not None:
            text.append(f"✗ {self._broken}\n", style="bold red")
            text.append("  this file is never written here: fix it in an editor, or fill the "
                        "form and save it as a new spec\n", style="red")
        if flow is None:
            text.append("no flow to check against: add one to the flows folder", style="yellow")
        elif isinstance(flow, str):
            text.append(f"✗ flow {flow}", style="red")
        elif form == SpecForm():
            if self._broken is None:
                text.append(f"an empty spec: fill it in; it is checked against the {flow.name} "
                            "input as you type", style="dim")
        elif problems:
            for problem in problems:
                text.append(f"✗ {problem.field}: {problem.message}\n", style="red")
        else:
            text.append(f"✓ fits {flow.name} input", style="green")
        text.rstrip()
        self.query_one("#spec-problems", Static).update(text)

    def _where(self, form: SpecForm) -> Text:
        if self._key is None:
            target = spec_filename(self.ctx.specs, form.title).name if form.title.strip() \
                else "<title>.json"
            return Text(f"new spec → {target}")
        text = Text(self._key.name)
        if self._broken is None and form != self._baseline:
            text.append(" · unsaved edits", style="yellow")
        return text

    # --- actions ---------------------------------------------------------------------

    def action_new_spec(self) -> None:
        options = self.query_one("#spec-list", OptionList)
        options.highlighted = 0
        if self._key is not None:
            self._show(None)
        if None in self._drafts:
            self.notify("your unsaved new spec is still here; ctrl+r starts it over",
                        title="new spec")
        self.query_one("#spec-title", Input).focus()

    def action_edit(self) -> None:
        self.query_one("#spec-title", Input).focus()

    def action_to_list(self) -> None:
        self.query_one("#spec-list", OptionList).focus()

    def action_focus_flow(self) -> None:
        self.query_one("#spec-flow", Select).focus()

    def action_revert(self) -> None:
        if self.read_form() == self._baseline:
            self.notify("no edits to revert")
            return
        self._drafts.pop(self._key, None)
        self._fill(self._baseline)
        self._refresh_prompt(self._key)
        self._check()
        self.notify("edits reverted" if self._key else "new spec cleared")

    def action_save(self) -> None:
        form = self.read_form()
        data = form.to_data(self._extra)
        if not data:
            self.notify("nothing to save: the form is empty", severity="error")
            return
        keep_broken = self._broken is not None
        target = (spec_filename(self.ctx.specs, form.title)
                  if self._key is None or keep_broken else self._key)
        try:
            save_spec(target, data)
        except PantheonError as exc:
            self.notify(exc.message, title="not saved", severity="error")
            return
        problems = self.current_problems()
        self._drafts.pop(self._key, None)
        self._key, self._baseline, self._broken = target, form, None
        self._reload_list(select=target)
        self._report_save(target, problems, keep_broken)

    def _report_save(self, target: Path, problems: list[FieldProblem], new_file: bool) -> None:
        message = f"saved {target.name}"
        if new_file:
            message += " (the unreadable file was left as it is)"
        flow = self.flow_input()
        if problems and isinstance(flow, FlowInput):
            fields_text = ", ".join(problem_fields(problems))
            self.notify(f"{message}; it does not fit {flow.name} yet ({fields_text}), so it "
                        "cannot be queued", severity="warning")
        else:
            self.notify(message)

    def action_queue(self) -> None:
        if self._broken is not None and self.read_form() == SpecForm():
            self.notify(f"not queued: {self._broken}", severity="error")
            return
        flow = self.flow_input()
        if not isinstance(flow, FlowInput):
            self.notify(f"not queued: {flow or 'no flow chosen'}", severity="error")
            return
        form = self.read_form()
        data = form.to_data(self._extra)
        problems = flow.problems(data)
        if problems:
            self.notify(f"not queued: {', '.join(problem_fields(problems))} "
                        f"do not fit {flow.name} input", severity="error")
            return
        source = self._key if self._key is not None and self._broken is None \
            else spec_filename(self.ctx.specs, form.title)
        note = " (with unsaved edits)" if form != self._baseline else ""
        self._enqueue(self.ctx.artifacts, flow, source, data, note)

    @work(thread=True, group="specs-enqueue")
    def _enqueue(self, artifacts: Path, flow: FlowInput, source: Path, data: dict[str, Any],
                 note: str) -> None:
        """Write the job in a thread: the queue file may be busy with a night."""
        try:
            job = enqueue(artifacts, flow, [(source, data)])[0]
        except (PantheonError, OSError) as exc:
            self.post_message(self.Enqueued(None, flow.name, note,
                                            getattr(exc, "message", str(exc))))
            return
        self.post_message(self.Enqueued(job, flow.name, note, None))

    def on_specs_screen_enqueued(self, message: Enqueued) -> None:
        if message.job is None:
            self.notify(f"not queued: {message.error}", severity="error")
            return
        self.notify(f"queued job {message.job.id} on {message.flow}{message.note}",
                    title="queued")
