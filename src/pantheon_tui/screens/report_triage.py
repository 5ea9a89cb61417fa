"""What the Report screen does to a failure: open, mark, requeue, fix by hand, copy a path.

:class:`TriageScreen` is the Report screen's base: the keyboard actions on the highlighted
failure and the writes they make. Marks and requeues are written in thread workers, one at
a time, and come back as messages, so a slow disk or a busy queue file never stalls the
keyboard; a hand fix hands the terminal to the editor and grades the file in a worker too.
The screen that shows the failures (:class:`pantheon_tui.screens.report.ReportScreen`)
supplies :attr:`TriageScreen.highlighted`, :meth:`TriageScreen.reload` and
:meth:`TriageScreen._redraw`.
"""

from __future__ import annotations

import sqlite3
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual import on, work
from textual.app import SuspendNotSupported
from textual.message import Message
from textual.worker import Worker

from pantheon_engine.errors import PantheonError
from pantheon_engine.night.triage import Failure, Mark, TriageLog, TriageMark, requeue_run
from pantheon_tui.screens.base import RoomScreen
from pantheon_tui.screens.report_data import MARKS, mark_of
from pantheon_tui.screens.viewer import ArtifactViewer

if TYPE_CHECKING:  # the fix machinery loads when a fix is asked for, not with the room
    from pantheon_engine.specialize.fixes import FixResult, FixTarget

__all__ = ["TriageScreen"]


class TriageScreen(RoomScreen):
    """Actions on the highlighted failure and the writes behind them (see the module)."""

    class Marked(Message):
        """A mark was written; ``note`` is what to tell the user, if anything."""

        def __init__(self, record: TriageMark, note: str | None = None) -> None:
            super().__init__()
            self.record = record
            self.note = note

    class ActionFailed(Message):
        def __init__(self, text: str, hint: str | None = None) -> None:
            super().__init__()
            self.text = text
            self.hint = hint

    class FixReady(Message):
        """The failed run's file is ready to edit (posted from a thread worker)."""

        def __init__(self, target: FixTarget) -> None:
            super().__init__()
            self.target = target

    class Fixed(Message):
        """A hand fix was graded (and, when it passed, recorded as a demonstration)."""

        def __init__(self, result: FixResult) -> None:
            super().__init__()
            self.result = result

    def __init__(self) -> None:
        super().__init__()
        self.marks: dict[str, TriageMark] = {}
        # one write at a time, so marks reach the screen in the order they reach the file
        self._write_lock = threading.Lock()
        # marks this screen wrote, numbered, so a read that began before one was written
        # does not take it back off the screen
        self._written: list[tuple[int, TriageMark]] = []
        self._version = 0

    # --- what the screen that shows the failures supplies -------------------------------

    @property
    def highlighted(self) -> Failure | None:
        """The failure under the cursor (None when there is none)."""
        raise NotImplementedError

    def reload(self) -> Worker[None]:
        """Read the folder again (a fix that was recorded changed it)."""
        raise NotImplementedError

    def _redraw(self) -> None:
        """Show the current marks."""
        raise NotImplementedError

    # --- actions -------------------------------------------------------------------------

    def _need_failure(self) -> Failure | None:
        failure = self.highlighted
        if failure is None:
            self.notify("Move to a failure first.", severity="warning")
        return failure

    def action_open(self) -> None:
        failure = self._need_failure()
        if failure is not None:
            self.app.push_screen(ArtifactViewer(self.ctx.artifacts, failure.run_id,
                                                failure.node))

    def action_mark(self, mark: str) -> None:
        failure = self._need_failure()
        if failure is None or mark not in MARKS:
            return
        if mark_of(self.marks, failure.key) == mark:
            self.notify(f"{failure.key} is {mark} already.", markup=False)
            return
        self._write_mark(self.ctx.artifacts, self.ctx.clock, failure, cast(Mark, mark))

    def action_requeue(self) -> None:
        failure = self._need_failure()
        if failure is not None:
            self._requeue(self.ctx.artifacts, self.ctx.clock, failure)

    def action_fix(self) -> None:
        """Open the failure's document in $EDITOR; a fix that passes its check becomes data."""
        failure = self._need_failure()
        if failure is not None:
            self._prepare_fix(self.ctx.artifacts, failure)

    def action_copy_path(self) -> None:
        failure = self._need_failure()
        if failure is not None:
            self.room.copy_path(str((self.ctx.artifacts / failure.path).absolute()))

    # --- writes (thread workers; results come back as messages) -------------------------

    @work(thread=True, group="report-write", exit_on_error=False)
    def _write_mark(self, artifacts: Path, clock: Callable[[], float], failure: Failure,
                    mark: Mark) -> None:
        with self._write_lock:
            try:
                record = TriageLog(artifacts, clock=clock).mark(failure.run_id, failure.node,
                                                                mark)
            except OSError as exc:
                self.post_message(self.ActionFailed(f"{failure.key}: mark not written: {exc}"))
                return
            self.post_message(self.Marked(record))

    @work(thread=True, group="report-write", exit_on_error=False)
    def _requeue(self, artifacts: Path, clock: Callable[[], float], failure: Failure) -> None:
        """Requeue the failure's run, then mark it ``requeued`` with the job id."""
        with self._write_lock:
            self._requeue_locked(artifacts, clock, failure)

    def _requeue_locked(self, artifacts: Path, clock: Callable[[], float],
                        failure: Failure) -> None:
        try:
            job = requeue_run(artifacts, failure.run_id)
        except PantheonError as exc:
            self.post_message(self.ActionFailed(exc.message, exc.hint))
            return
        except (OSError, sqlite3.Error) as exc:
            self.post_message(self.ActionFailed(f"{failure.run_id}: requeue failed: {exc}"))
            return
        try:
            record = TriageLog(artifacts, clock=clock).mark(
                failure.run_id, failure.node, "requeued", job_id=job.id)
        except OSError as exc:
            self.post_message(self.ActionFailed(
                f"job {job.id} queued again, but the mark was not written: {exc}"))
            return
        self.post_message(self.Marked(record, note=f"{failure.key}: job {job.id} queued again"))

    @work(thread=True, group="report-fix", exit_on_error=False)
    def _prepare_fix(self, artifacts: Path, failure: Failure) -> None:
        from pantheon_engine.specialize.fixes import prepare_fix

        try:
            target = prepare_fix(artifacts, failure.run_id, failure.node)
        except PantheonError as exc:
            self.post_message(self.ActionFailed(exc.message, exc.hint))
        except OSError as exc:
            self.post_message(self.ActionFailed(f"{failure.key}: cannot prepare a fix: {exc}"))
        else:
            self.post_message(self.FixReady(target))

    @on(FixReady)
    def _edit_fix(self, message: FixReady) -> None:
        """Hand the terminal to the editor (the room waits), then grade the file."""
        from pantheon_engine.specialize.fixes import editor_command

        target = message.target
        command = editor_command(target.file)
        try:
            try:
                with self.app.suspend():
                    code = subprocess.run(command, check=False).returncode
            except SuspendNotSupported:
                if not self.app.is_headless:  # no terminal to hand over (a browser)
                    self.notify(f"Edit {target.file} yourself, then run: pantheon fix "
                                f"{target.run_id} --no-edit", title="fix", markup=False)
                    return
                code = subprocess.run(command, check=False, stdin=subprocess.DEVNULL,
                                      capture_output=True).returncode
        except OSError as exc:
            self.notify(f"cannot start the editor {command[0]!r}: {exc}\nhint: set $VISUAL "
                        "or $EDITOR", title="fix", severity="error", markup=False)
            return
        if code != 0:
            self.notify(f"the editor exited with status {code}: nothing was checked; the "
                        f"file is kept at {target.file}", title="fix", severity="warning",
                        markup=False)
            return
        self._check_fix(self.ctx.artifacts, self.ctx.clock, target)

    @work(thread=True, group="report-write", exit_on_error=False)
    def _check_fix(self, artifacts: Path, clock: Callable[[], float],
                   target: FixTarget) -> None:
        from pantheon_engine.specialize.fixes import apply_fix_blocking

        with self._write_lock:
            try:
                result = apply_fix_blocking(artifacts, target, clock=clock)
            except PantheonError as exc:
                self.post_message(self.ActionFailed(exc.message, exc.hint))
                return
            except OSError as exc:
                self.post_message(self.ActionFailed(f"{target.run_id}: fix not checked: {exc}"))
                return
        self.post_message(self.Fixed(result))

    @on(Fixed)
    def _fixed(self, message: Fixed) -> None:
        result = message.result
        self.notify(result.render(), title="fix",
                    severity="information" if result.recorded else "warning", markup=False)
        if result.recorded:
            self.reload()  # the engine marked the failure triaged

    @on(Marked)
    def _marked(self, message: Marked) -> None:
        self._version += 1
        self._written.append((self._version, message.record))
        self._apply_mark(message.record)
        self._redraw()
        if message.note:
            self.notify(message.note, title="requeued", markup=False)

    def _apply_mark(self, record: TriageMark) -> None:
        if record.mark == "open":
            self.marks.pop(record.key, None)
        else:
            self.marks[record.key] = record

    @on(ActionFailed)
    def _action_failed(self, message: ActionFailed) -> None:
        text = f"{message.text}\nhint: {message.hint}" if message.hint else message.text
        self.notify(text, title="report", severity="error", markup=False)
