"""Open the night queue wherever it is: an SQLite file, or a PostgreSQL database by URL.

``--queue postgresql://user@host:5432/db`` (or ``[queue] url`` in ``pantheon.toml``) names
a PostgreSQL queue that workers on several machines share; anything else is an SQLite
file, and no queue named means ``<artifacts>/queue.sqlite``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pantheon_engine.errors import PolicyError
from pantheon_engine.night.jobqueue import JobQueue, default_queue_path
from pantheon_engine.night.queue_base import JobQueueBase
from pantheon_engine.night.queue_model import QueueError

if TYPE_CHECKING:
    from pantheon_engine.night.jobqueue_pg import PgJobQueue

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
Location = str | Path


def is_postgres(location: Location) -> bool:
    """Whether ``location`` is a PostgreSQL URL."""
    return isinstance(location, str) and location.strip().lower().startswith(POSTGRES_SCHEMES)


def queue_location(artifacts: Path | str, url: str | None) -> Location:
    """The queue a command uses: ``url`` when given (``--queue`` or ``[queue] url``), else
    the artifacts folder's ``queue.sqlite``."""
    if url is not None and url.strip():
        url = url.strip()
        return url if is_postgres(url) else Path(url.removeprefix("sqlite:"))
    return default_queue_path(artifacts)


def describe(location: Location) -> str:
    """``location`` for messages (a URL without its password)."""
    if is_postgres(location):
        from pantheon_engine.night.jobqueue_pg import redact

        return redact(str(location))
    return str(location)


def _pg_queue() -> type[PgJobQueue]:
    try:
        from pantheon_engine.night.jobqueue_pg import PgJobQueue
    except ImportError as exc:
        raise QueueError("a PostgreSQL queue needs psycopg 3, which is not installed",
                         hint="pip install 'pantheon[postgres]'") from exc
    return PgJobQueue


def open_queue(location: Location, *, clock: Callable[[], float] | None = None,
               notify: Callable[[str], None] | None = None) -> JobQueueBase:
    """The queue at ``location``, created when it does not exist yet. ``clock`` (tests)
    replaces the backend's clock; ``notify`` hears of a PostgreSQL queue's lost connection
    and its reconnection."""
    if is_postgres(location):
        return _pg_queue()(str(location), clock=clock, notify=notify)
    if clock is None:
        return JobQueue(Path(location))
    return JobQueue(Path(location), clock=clock)


def open_existing_queue(location: Location) -> JobQueueBase | None:
    """The queue at ``location`` for a command that must not create one: ``None`` while
    there is none (no file, or a database without the queue's tables)."""
    if is_postgres(location):
        queue = _pg_queue()(str(location), create=False)
        if not queue.exists():
            queue.close()
            return None
        return queue
    path = Path(location)
    return JobQueue(path) if path.is_file() else None


#: the networks a night's queue may be on besides loopback: private (RFC 1918, RFC 4193)
#: and link-local
LOCAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "fc00::/7",
    "fe80::/10"))


def is_local_network(address: str) -> bool:
    """Loopback, or an address of :data:`LOCAL_NETWORKS`."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or any(ip in net for net in LOCAL_NETWORKS if
                                 net.version == ip.version)


def check_night_queue(location: Location) -> None:
    """At night the queue's database must be on this machine or the local network: a
    Unix socket, loopback, or a private address (10/8, 172.16/12, 192.168/16, fc00::/7,
    link-local). A name is looked up now, before the night blocks name lookups, and every
    address it has must be such an address. Raises :class:`PolicyError` otherwise."""
    if not is_postgres(location):
        return
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(str(location))
    except ProgrammingError as exc:
        raise QueueError(f"queue URL {describe(location)}: {exc}") from exc
    hosts = [h.strip() for h in str(params.get("hostaddr") or params.get("host") or "").split(",")]
    for host in hosts:
        if not host or host.startswith("/"):
            continue  # a Unix socket on this machine
        try:
            addresses = [host] if _is_ip(host) else sorted(
                {str(info[4][0]) for info in socket.getaddrinfo(host, None)})
        except OSError as exc:
            raise QueueError(f"queue URL {describe(location)}: cannot look up host "
                             f"{host!r}: {exc}") from exc
        public = [a for a in addresses if not is_local_network(a)]
        if public:
            raise PolicyError(
                f"night mode refuses queue host {host!r} ({', '.join(public)}): only "
                "loopback, Unix sockets and private-network addresses are allowed at night",
                hint="run the queue's database on the local network, or run with --day")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True
