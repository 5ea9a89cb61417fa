"""Run one subprocess for a tool: own process group, capped output, hard timeout.

The child starts a new session, so it leads its own process group. On timeout (or when the
awaiting task is cancelled) the whole group gets SIGKILL: ``pytest`` spawning workers or
``sh -c 'sleep 30 & …'`` leave nothing behind. Stragglers still in the group when the
leader exits are killed too, so a background child cannot hold the output pipe open.

Output (stdout and stderr merged) is read in chunks; only the first and the last half of
``output_cap`` bytes are kept, joined by a ``[… N bytes cut]`` marker, so a runaway
command never sits whole in memory. The tail is kept because that is where test runners
and linters print their summary.

Memory: the child's address space is capped (``RLIMIT_AS``, set in the child between fork
and exec, so it holds for everything the command starts) at :data:`MEMORY_LIMIT_BYTES`
(4 GiB; ``PANTHEON_TOOL_MEMORY_MB`` overrides it, ``0`` lifts it). A test that allocates
without end then fails with ``MemoryError`` instead of taking the machine and the night's
other runs with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from pantheon_engine.errors import ToolFailure, ToolTimeout

_CHUNK = 65_536
#: the address-space limit of a tool subprocess, bytes (see the module docstring)
MEMORY_LIMIT_BYTES = 4 << 30
MEMORY_ENV = "PANTHEON_TOOL_MEMORY_MB"


def memory_limit() -> int | None:
    """The limit in force: ``$PANTHEON_TOOL_MEMORY_MB`` (MiB; 0: none), else the default."""
    raw = os.environ.get(MEMORY_ENV, "").strip()
    if not raw:
        return MEMORY_LIMIT_BYTES
    try:
        mib = int(raw)
    except ValueError:
        return MEMORY_LIMIT_BYTES
    return mib << 20 if mib > 0 else None


def _cap_memory(limit: int) -> Callable[[], None]:
    """What the child runs before exec: lower its soft and hard address-space limits."""

    def preexec() -> None:  # runs in the forked child: only async-signal-safe-ish work
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    return preexec


class ProcResult(BaseModel):
    returncode: int
    output: str
    truncated: bool = False
    timed_out: bool = False
    seconds: float


class _CappedBuffer:
    """Keeps the first ``cap // 2`` and the last ``cap - cap // 2`` bytes of a stream."""

    def __init__(self, cap: int) -> None:
        self.head_cap = max(cap, 0) // 2
        self.tail_cap = max(cap, 0) - self.head_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data and self.tail_cap > 0:
            self.tail += data
            if len(self.tail) > self.tail_cap:
                del self.tail[: len(self.tail) - self.tail_cap]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def text(self) -> str:
        head = self.head.decode("utf-8", "replace")
        tail = self.tail.decode("utf-8", "replace")
        if not self.truncated:
            return head + tail
        cut = self.total - len(self.head) - len(self.tail)
        return f"{head}\n[… {cut} bytes cut]\n{tail}"


def cap_text(text: str, cap: int) -> tuple[str, bool]:
    """Cap an in-memory string the same way as process output (head + marker + tail)."""
    buf = _CappedBuffer(cap)
    buf.feed(text.encode("utf-8"))
    return buf.text(), buf.truncated


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def _drain(stream: asyncio.StreamReader, buf: _CappedBuffer) -> None:
    while True:
        chunk = await stream.read(_CHUNK)
        if not chunk:
            return
        buf.feed(chunk)


async def run_process(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout_s: float,
    output_cap: int,
    command_prefix: Sequence[str] = (),
    raise_on_timeout: bool = True,
    memory_bytes: int | Literal["default"] | None = "default",
) -> ProcResult:
    """Run ``command_prefix + argv`` in ``cwd`` and return its merged, capped output.

    ``memory_bytes``: the child's address-space limit (``"default"``: :func:`memory_limit`;
    ``None``: no limit).

    Raises :class:`ToolTimeout` after killing the process group when ``timeout_s`` passes
    (or returns a result with ``timed_out=True`` when ``raise_on_timeout`` is false), and
    :class:`ToolFailure` when the program cannot be started.
    """
    full = [*command_prefix, *argv]
    if not full:
        raise ToolFailure("run_process: empty command")
    limit = memory_limit() if memory_bytes == "default" else memory_bytes
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *full,
            cwd=os.fspath(cwd),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_cap_memory(limit) if limit is not None else None,
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        raise ToolFailure(f"cannot start {full[0]!r}: {exc.strerror or exc}") from exc
    pgid = proc.pid  # start_new_session: the child leads a group with its own pid
    buf = _CappedBuffer(output_cap)
    assert proc.stdout is not None
    reader = asyncio.ensure_future(_drain(proc.stdout, buf))

    async def finish() -> int:
        # Python 3.11's ``proc.wait()`` only returns once the pipe closes, which a background
        # child can delay forever; ``returncode`` is set as soon as the leader is reaped.
        while proc.returncode is None and not reader.done():
            await asyncio.wait({reader}, timeout=0.05)
        if proc.returncode is None:  # output closed, process still running
            await proc.wait()
        _kill_group(pgid)  # stragglers would keep the pipe open and outlive the tool
        await asyncio.shield(reader)  # on timeout keep reading what is left, do not cancel
        return await proc.wait()

    timed_out = False
    try:
        returncode = await asyncio.wait_for(finish(), timeout_s)
    except TimeoutError:
        timed_out = True
        _kill_group(pgid)
        with contextlib.suppress(TimeoutError, ProcessLookupError):
            await asyncio.wait_for(proc.wait(), 5)
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(reader, 1)
        returncode = proc.returncode if proc.returncode is not None else -signal.SIGKILL
    except BaseException:
        # Cancelled from outside (e.g. the tool's own timeout): never leave the group alive.
        _kill_group(pgid)
        reader.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(proc.wait(), 5)
        raise
    seconds = round(time.monotonic() - started, 3)
    result = ProcResult(
        returncode=returncode,
        output=buf.text(),
        truncated=buf.truncated,
        timed_out=timed_out,
        seconds=seconds,
    )
    if timed_out and raise_on_timeout:
        tail = result.output[-2000:]
        raise ToolTimeout(
            f"{argv[0] if argv else full[0]}: timed out after {timeout_s:.1f}s; "
            f"its process group was killed. Last output:\n{tail}"
        )
    return result
