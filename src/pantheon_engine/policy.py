"""The day/night policy.

By day an engineer is at the keyboard and anything goes. At night Pantheon runs headless and
local-only, with no fallback, ever:

* :meth:`Policy.preflight` refuses to start while a cloud credential is in the environment
  (the maintained list :data:`CLOUD_CREDENTIALS`);
* :meth:`Policy.check_runtime` refuses any agent whose runtime origin is not ``local``;
* :meth:`Policy.check_endpoint` refuses any model endpoint that is not loopback or a Unix
  socket, and :meth:`Policy.check_bind` any server address that is not loopback;
* :func:`block_egress` / :func:`egress_guard` make outbound sockets to non-loopback
  addresses (and name lookups of non-local hosts) raise :class:`EgressBlocked` in-process;
* ``allowed_hosts`` (``[policy] allowed_hosts`` in ``pantheon.toml``, empty by default)
  names the machines of the user's own network a night may use besides this one: model
  endpoints on them, a ``pantheon serve`` bound to them, and connections to them. Only
  host names and private addresses or networks may be listed (:func:`parse_allowed_host`);
* :meth:`Policy.tool_context` gives tool subprocesses a scrubbed environment
  (:func:`scrubbed_env`) and, where the kernel allows it, an empty network namespace
  (:func:`netns_prefix`).

Every check raises; nothing here retries with a weaker policy. The only thing that depends
on the machine is whether an empty network namespace can be made (``unshare -rn``); that is
probed once and reported, never silently swapped for something else mid-run.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pantheon_engine.errors import ConfigError, EgressBlocked, PolicyError
from pantheon_engine.tools.base import ToolContext

Mode = Literal["day", "night"]
MODES: tuple[str, ...] = get_args(Mode)

# --- credentials -------------------------------------------------------------------------

CLOUD_CREDENTIALS: tuple[str, ...] = (
    # OpenAI
    "OPENAI_API_KEY",
    "OPENAI_ADMIN_KEY",
    # Anthropic (SDK key; bearer token used by Claude Code and gateways)
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    # Google: Gemini / AI Studio, Vertex and Cloud SDK credentials
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GENERATIVE_AI_API_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
    "CLOUDSDK_AUTH_ACCESS_TOKEN",
    "PALM_API_KEY",
    # AWS (IAM keys, STS session tokens, Bedrock API keys)
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
    # Azure (Azure OpenAI, AI Inference, service principals, storage)
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_AD_TOKEN",
    "AZURE_API_KEY",
    "AZURE_INFERENCE_CREDENTIAL",
    "AZURE_CLIENT_SECRET",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
    # Hugging Face Hub and Inference API
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HUGGINGFACEHUB_API_TOKEN",
    # Cohere
    "COHERE_API_KEY",
    "CO_API_KEY",
    # Mistral
    "MISTRAL_API_KEY",
    "CODESTRAL_API_KEY",
    # Hosted open-model inference providers
    "GROQ_API_KEY",
    "TOGETHER_API_KEY",
    "TOGETHERAI_API_KEY",
    "FIREWORKS_API_KEY",
    "FIREWORKS_AI_API_KEY",
    "DEEPINFRA_API_TOKEN",
    "DEEPINFRA_API_KEY",
    "REPLICATE_API_TOKEN",
    "REPLICATE_API_KEY",
    "OPENROUTER_API_KEY",
    "ANYSCALE_API_KEY",
    "CEREBRAS_API_KEY",
    "SAMBANOVA_API_KEY",
    "NOVITA_API_KEY",
    "HYPERBOLIC_API_KEY",
    "BASETEN_API_KEY",
    # Model vendors with their own APIs
    "DEEPSEEK_API_KEY",
    "XAI_API_KEY",
    "PERPLEXITY_API_KEY",
    "PERPLEXITYAI_API_KEY",
    "AI21_API_KEY",
    "VOYAGE_API_KEY",
    "JINA_API_KEY",
    "MOONSHOT_API_KEY",
    "DASHSCOPE_API_KEY",
    "ZHIPUAI_API_KEY",
    # NVIDIA (NIM / NGC)
    "NVIDIA_API_KEY",
    "NVIDIA_NIM_API_KEY",
    "NGC_API_KEY",
    # IBM watsonx, Databricks, Cloudflare Workers AI
    "WATSONX_APIKEY",
    "DATABRICKS_TOKEN",
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_API_KEY",
    # Experiment tracking and tracing services (ship traces off the machine)
    "WANDB_API_KEY",
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
    "COMET_API_KEY",
    "NEPTUNE_API_TOKEN",
    # Hosted vector stores and agent search tools
    "PINECONE_API_KEY",
    "TAVILY_API_KEY",
    "SERPAPI_API_KEY",
    # Code hosting (agents must not push or call APIs at night)
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GITLAB_TOKEN",
)


def find_credentials(env: Mapping[str, str]) -> list[str]:
    """Names from :data:`CLOUD_CREDENTIALS` that ``env`` sets to a non-blank value.

    Matching is exact (environment names are case-sensitive on the systems we run on and
    the SDKs read the exact name). A blank or whitespace-only value is not a credential.
    """
    return [name for name in CLOUD_CREDENTIALS if (env.get(name) or "").strip()]


# --- hosts and endpoints -----------------------------------------------------------------


def _is_loopback_ip(text: str) -> bool:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


def _is_ip_literal(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _normalise_host(host: str | bytes) -> str:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


def is_loopback_host(host: str | bytes) -> bool:
    """True for ``localhost``, 127.0.0.0/8, ``::1`` and IPv4-mapped loopback.

    Deliberately strict: ``0.0.0.0``/``::`` (unspecified, a bind address), ``*.localhost``
    subdomains (resolvers may forward them) and shorthand forms such as ``127.1`` or
    ``2130706433`` are *not* loopback here.
    """
    host = _normalise_host(host)
    if host in ("localhost", "localhost."):
        return True
    return _is_loopback_ip(host.split("%", 1)[0])


def is_local_endpoint(url: str) -> bool:
    """True when ``url`` points at a loopback host, a Unix socket or a local path.

    Accepted: ``http(s)://127.0.0.1:8000/v1`` (any scheme, loopback host), ``localhost:8000``,
    ``unix:/run/x.sock``, ``unix:///run/x.sock``, ``http+unix://%2Frun%2Fx.sock/v1``,
    ``file:///models/x.gguf`` and bare paths (``/run/x.sock``, ``./x.sock``, ``~/x.sock``).
    """
    url = url.strip()
    if not url:
        return False
    lowered = url.lower()
    if lowered.startswith("unix:"):
        return True
    if lowered.startswith(("/", "./", "../", "~")):
        return True
    if "://" not in url:
        # "host:port" or a bare host; parse it as a network location.
        url = "//" + url
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme.endswith("+unix"):
        return True
    if scheme == "file":
        return not host or is_loopback_host(host)
    if not host:
        return False
    return is_loopback_host(host)


# --- hosts a night allows besides loopback ------------------------------------------------

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_HOST_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)"
                        r"(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$")


def _is_private(addr: IPAddress | IPNetwork) -> bool:
    return bool(addr.is_private or addr.is_link_local or addr.is_loopback)


def parse_allowed_host(entry: str) -> IPNetwork | str:
    """One ``allowed_hosts`` entry: an address or network (``10.0.0.7``,
    ``192.168.1.0/24``, ``fd00::/8``) or a host name (``gpu-box.lan``, lower-cased).

    A night stays off the internet: a public address or network, the unspecified address
    (``0.0.0.0``, ``::``) and anything that is not an address or a host name (``*``, a URL)
    are a :class:`ConfigError` naming the entry. A name is only as good as what it resolves
    to: the egress guard lets connections through to the private addresses it resolves to.
    """
    text = entry.strip().lower() if isinstance(entry, str) else ""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    where = f"[policy] allowed_hosts: {entry!r}"
    if not text:
        raise ConfigError(f"{where}: an empty host")
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        network = None
    if network is not None:
        if network.prefixlen == 0 or network.network_address.is_unspecified:
            raise ConfigError(f"{where}: allows every address; a night is local-only",
                              hint="name the machines of your own network one by one")
        if not _is_private(network):
            raise ConfigError(f"{where}: a public address; night mode may reach private "
                              "addresses only (10/8, 172.16/12, 192.168/16, fc00::/7, "
                              "link-local)", hint="run with --day to use a remote server")
        return network
    name = text.rstrip(".")
    if "/" in name or ":" in name or not _HOST_NAME.match(name):
        raise ConfigError(f"{where}: not a host name, an address or a network",
                          hint="e.g. gpu-box.lan, 10.0.0.7 or 192.168.1.0/24")
    return name


def _host_matches(host: str, nets: list[IPNetwork], names: set[str],
                  resolved: set[IPAddress] | frozenset[IPAddress] = frozenset()) -> bool:
    host = _normalise_host(host).split("%", 1)[0].rstrip(".")
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host in names
    if addr in resolved:
        return True
    return any(addr.version == net.version and addr in net for net in nets)


def _parsed_hosts(entries: Iterable[str]) -> tuple[list[IPNetwork], set[str]]:
    nets: list[IPNetwork] = []
    names: set[str] = set()
    for entry in entries:
        parsed = parse_allowed_host(entry)
        if isinstance(parsed, str):
            names.add(parsed)
        else:
            nets.append(parsed)
    return nets, names


# --- the egress guard --------------------------------------------------------------------

_guard_lock = threading.RLock()
# name -> (owner, attribute name, original value or _MISSING)
_saved: dict[str, tuple[Any, str, Any]] = {}
_MISSING = object()

# what ``allowed_hosts`` adds while the guard is on: networks, names, and the private
# addresses those names resolved to (recorded by the guarded getaddrinfo)
_allowed_nets: list[IPNetwork] = []
_allowed_names: set[str] = set()
_resolved: set[IPAddress] = set()

_ALLOWED_FAMILIES: frozenset[int] = frozenset(
    f for f in (getattr(socket, "AF_UNIX", None), getattr(socket, "AF_NETLINK", None)) if f
)


def _blocked(what: str) -> EgressBlocked:
    extra = " and the hosts of [policy] allowed_hosts" if _allowed_nets or _allowed_names \
        else ""
    return EgressBlocked(
        f"night policy: outbound network access blocked ({what}); "
        f"only loopback and Unix sockets{extra} are allowed at night",
        hint="point the model engine at 127.0.0.1/::1 or a Unix socket, list the host in "
        "[policy] allowed_hosts, or run with --day",
    )


def _guard_allows(host: str | bytes) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    return _host_matches(host, _allowed_nets, _allowed_names, _resolved)


def _record_resolved(result: Any) -> None:
    """Remember the private addresses an allowed name resolved to (public ones: never)."""
    for item in result if isinstance(result, list) else []:
        try:
            addr = ipaddress.ip_address(str(item[4][0]).split("%", 1)[0])
        except (ValueError, IndexError, TypeError):
            continue
        if _is_private(addr):
            _resolved.add(addr)


def _check_address(family: int, address: Any) -> None:
    """Raise :class:`EgressBlocked` unless ``address`` is local for a socket of ``family``."""
    if family in _ALLOWED_FAMILIES:
        return
    if family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) and address:
        host = address[0]
        port = address[1] if len(address) > 1 else "?"
        if isinstance(host, str | bytes):
            if is_loopback_host(host) or _guard_allows(host):
                return
            host = _normalise_host(host)
        raise _blocked(f"to {host}:{port}")
    raise _blocked(f"address family {family!r}, to {address!r}")


def _check_lookup(host: Any) -> None:
    """Name lookups of non-local hosts would send DNS queries: refuse them.

    ``None``/empty (passive or local lookups) and IP literals (no query is sent) pass.
    """
    if host is None:
        return
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return
    name = _normalise_host(host)
    if not name or is_loopback_host(name) or _is_ip_literal(name.split("%", 1)[0]):
        return
    if name.rstrip(".") in _allowed_names:
        return
    raise _blocked(f"name lookup of {name!r}")


def _make_wrappers() -> dict[str, tuple[Any, str, Any]]:
    sock_cls = socket.socket
    orig_connect = sock_cls.connect
    orig_connect_ex = sock_cls.connect_ex
    orig_sendto = sock_cls.sendto
    orig_sendmsg: Callable[..., int] | None = getattr(sock_cls, "sendmsg", None)
    orig_create_connection = socket.create_connection
    orig_getaddrinfo = socket.getaddrinfo
    orig_gethostbyname = socket.gethostbyname
    orig_gethostbyname_ex = socket.gethostbyname_ex

    def connect(self: socket.socket, address: Any) -> None:
        _check_address(self.family, address)
        return orig_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check_address(self.family, address)
        return orig_connect_ex(self, address)

    def sendto(self: socket.socket, data: Any, *args: Any) -> int:
        # sendto(data, address) or sendto(data, flags, address)
        if args:
            _check_address(self.family, args[-1])
        return orig_sendto(self, data, *args)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        host = address[0] if isinstance(address, tuple) and address else address
        if not (isinstance(host, str | bytes)
                and (is_loopback_host(host) or _guard_allows(host))):
            raise _blocked(f"create_connection to {address!r}")
        return orig_create_connection(address, *args, **kwargs)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        _check_lookup(host)
        result = orig_getaddrinfo(host, *args, **kwargs)
        if isinstance(host, str | bytes) and _guard_allows(host) \
                and not _is_ip_literal(_normalise_host(host).split("%", 1)[0]):
            _record_resolved(result)
        return result

    def gethostbyname(host: Any) -> str:
        _check_lookup(host)
        return orig_gethostbyname(host)

    def gethostbyname_ex(host: Any) -> Any:
        _check_lookup(host)
        return orig_gethostbyname_ex(host)

    wrappers: dict[str, tuple[Any, str, Any]] = {
        "socket.connect": (sock_cls, "connect", connect),
        "socket.connect_ex": (sock_cls, "connect_ex", connect_ex),
        "socket.sendto": (sock_cls, "sendto", sendto),
        "create_connection": (socket, "create_connection", create_connection),
        "getaddrinfo": (socket, "getaddrinfo", getaddrinfo),
        "gethostbyname": (socket, "gethostbyname", gethostbyname),
        "gethostbyname_ex": (socket, "gethostbyname_ex", gethostbyname_ex),
    }
    if orig_sendmsg is not None:  # socket.socket has no sendmsg on Windows

        def sendmsg(self: socket.socket, buffers: Any, *args: Any, **kwargs: Any) -> int:
            address = kwargs.get("address", args[2] if len(args) >= 3 else None)
            if address is not None:
                _check_address(self.family, address)
            return orig_sendmsg(self, buffers, *args, **kwargs)

        wrappers["socket.sendmsg"] = (sock_cls, "sendmsg", sendmsg)
    return wrappers


def egress_blocked() -> bool:
    """Whether :func:`block_egress` is in force in this process."""
    with _guard_lock:
        return bool(_saved)


def block_egress(allow: Iterable[str] = ()) -> None:
    """Make outbound connections to non-loopback addresses raise :class:`EgressBlocked`.

    ``allow``: ``allowed_hosts`` entries (:func:`parse_allowed_host`) whose connections
    and name lookups pass too; a name's lookups pass and the private addresses it resolves
    to are allowed from then on. Called while the guard is on, ``allow`` adds to what it
    allows until :func:`unblock_egress`.

    Patches ``socket.socket.connect``/``connect_ex``/``sendto``/``sendmsg``,
    ``socket.create_connection`` and the name lookups ``getaddrinfo``/``gethostbyname``/
    ``gethostbyname_ex`` (for non-local names, which would send DNS queries). Loopback, Unix
    sockets and netlink keep working. Idempotent; undone by :func:`unblock_egress`.

    :class:`EgressBlocked` is not an ``OSError`` on purpose: client libraries that catch
    connection errors to try another address or a fallback host do not swallow it.

    This is an in-process guard against our own code and libraries; subprocesses get an
    empty network namespace instead (:func:`netns_prefix`).
    """
    nets, names = _parsed_hosts(allow)
    with _guard_lock:
        _allowed_nets.extend(n for n in nets if n not in _allowed_nets)
        _allowed_names.update(names)
        if _saved:
            return
        wrappers = _make_wrappers()
        for key, (owner, attr, wrapper) in wrappers.items():
            # Remember whether the attribute lived on the owner itself or was inherited
            # (socket.socket inherits connect from _socket.socket), so undo is exact.
            original = owner.__dict__.get(attr, _MISSING)
            _saved[key] = (owner, attr, original)
            setattr(owner, attr, wrapper)


def unblock_egress() -> None:
    """Undo :func:`block_egress` exactly. A no-op when the guard is not active."""
    with _guard_lock:
        for owner, attr, original in _saved.values():
            if original is _MISSING:
                with contextlib.suppress(AttributeError):
                    delattr(owner, attr)
            else:
                setattr(owner, attr, original)
        _saved.clear()
        _allowed_nets.clear()
        _allowed_names.clear()
        _resolved.clear()


@contextlib.contextmanager
def egress_guard(allow: Iterable[str] = ()) -> Iterator[None]:
    """Block egress for the ``with`` body (``allow``: see :func:`block_egress`); leave an
    already-active guard active on exit."""
    with _guard_lock:
        was_active = bool(_saved)
        block_egress(allow)
    try:
        yield
    finally:
        if not was_active:
            unblock_egress()


# An alias, so that ``Policy.egress_guard`` can call the function without reading as recursion.
_egress_guard = egress_guard


# --- tool subprocess environment ---------------------------------------------------------

_KEEP_EXACT: frozenset[str] = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TERM",
        "COLORTERM",
        "NO_COLOR",
        "TZ",
        "TMPDIR",
        "TEMP",
        "TMP",
        "VIRTUAL_ENV",
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    }
)
_KEEP_PREFIXES: tuple[str, ...] = ("LC_", "PYTHON", "PANTHEON_")
# PYTHONSTARTUP runs arbitrary code in interactive interpreters; PYTHONHTTPSVERIFY only
# matters to something that talks to the network, which nothing should at night.
_DROP_EXACT: frozenset[str] = frozenset({"PYTHONSTARTUP", "PYTHONHTTPSVERIFY"})
_SECRET_SUFFIXES: tuple[str, ...] = (
    "_API_KEY",
    "_APIKEY",
    "_KEY",
    "_TOKEN",
    "_SECRET",
    "_SECRET_ACCESS_KEY",
    "_PASSWORD",
    "_PASSWD",
    "_CREDENTIALS",
)
# Whole ``_``-separated words only, so TOKENIZERS_PARALLELISM is not mistaken for a secret.
_SECRET_WORDS: frozenset[str] = frozenset(
    {"SECRET", "SECRETS", "PASSWORD", "PASSWD", "TOKEN", "CREDENTIAL", "CREDENTIALS", "APIKEY"}
)
_PROXY_NAMES: frozenset[str] = frozenset(
    {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "FTP_PROXY", "NO_PROXY", "SOCKS_PROXY"}
)

#: Set in every night-time tool environment: say so, and ask common clients to stay offline.
NIGHT_ENV: Mapping[str, str] = MappingProxyType(
    {
        "PANTHEON_MODE": "night",
        "NO_PROXY": "*",
        "no_proxy": "*",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "PIP_NO_INDEX": "1",
        "GIT_TERMINAL_PROMPT": "0",
    }
)


def looks_secret(name: str) -> bool:
    """True for names of known credentials or names shaped like a secret."""
    upper = name.upper()
    if name in CLOUD_CREDENTIALS or upper in CLOUD_CREDENTIALS:
        return True
    if upper.endswith(_SECRET_SUFFIXES):
        return True
    return not _SECRET_WORDS.isdisjoint(upper.split("_"))


def _is_proxy(name: str) -> bool:
    upper = name.upper()
    return upper in _PROXY_NAMES or upper.endswith("_PROXY")


def scrubbed_env(env: Mapping[str, str], *, keep: tuple[str, ...] = ()) -> dict[str, str]:
    """The environment a tool subprocess gets at night.

    An allow-list: ``PATH``, ``HOME``, locale (``LANG``, ``LC_*``), ``TERM``, temp dirs,
    ``VIRTUAL_ENV``, ``PYTHON*`` (not ``PYTHONSTARTUP``), ``PANTHEON_*``, git identity and
    the names in ``keep``. On top of that every known credential, anything that looks like a
    secret and every proxy variable is dropped, even when listed in ``keep``. Finally
    :data:`NIGHT_ENV` is set (``PANTHEON_MODE=night``, ``NO_PROXY=*``, offline flags).
    """
    extra = frozenset(keep)
    out: dict[str, str] = {}
    for name, value in env.items():
        if looks_secret(name) or _is_proxy(name) or name in _DROP_EXACT:
            continue
        if name in _KEEP_EXACT or name in extra or name.startswith(_KEEP_PREFIXES):
            out[name] = value
    out.update(NIGHT_ENV)
    return out


# --- network namespace for subprocesses --------------------------------------------------

# Runs inside the new namespace: bring ``lo`` up (a fresh namespace has it down, so even
# 127.0.0.1 would be unreachable and local test servers would fail), then exec the command.
# Best effort: if it cannot, loopback stays down, which is stricter, not weaker.
# Run with ``-I -S``: the cwd is the workspace, and a workspace file named ``socket.py`` or a
# PYTHONPATH entry must not be imported by the shim.
_LO_UP_SHIM = (
    "import fcntl,os,socket,struct,sys\n"
    "try:\n"
    " s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
    " r=fcntl.ioctl(s,0x8913,struct.pack('16sh22x',b'lo',0))\n"
    " f=struct.unpack('16sh22x',r)[1]\n"
    " fcntl.ioctl(s,0x8914,struct.pack('16sh22x',b'lo',f|1))\n"
    " s.close()\n"
    "except OSError:\n"
    " pass\n"
    "if len(sys.argv)<2:\n"
    " sys.exit('pantheon netns: no command given')\n"
    "os.execvp(sys.argv[1],sys.argv[1:])\n"
)


def _candidate_prefix() -> list[str] | None:
    unshare = shutil.which("unshare")
    if not sys.platform.startswith("linux") or unshare is None:
        return None
    return [unshare, "-rn", "--", sys.executable, "-I", "-S", "-c", _LO_UP_SHIM]


@functools.cache
def _probe_netns() -> tuple[str, ...]:
    """Run the exact prefix once with a real command; keep it only if it isolates."""
    prefix = _candidate_prefix()
    if prefix is None:
        return ()
    probe = "import os;print(os.readlink('/proc/self/ns/net'))"
    try:
        ours = os.readlink("/proc/self/ns/net")
        done = subprocess.run(
            [*prefix, sys.executable, "-I", "-S", "-c", probe],
            capture_output=True,
            text=True,
            timeout=20,
            env={"PATH": os.environ.get("PATH", os.defpath)},
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    theirs = done.stdout.strip()
    if done.returncode != 0 or not theirs.startswith("net:") or theirs == ours:
        return ()
    return tuple(prefix)


def netns_prefix() -> list[str]:
    """Command prefix that runs a command in an empty network namespace, or ``[]``.

    ``unshare -rn`` (a user namespace mapping us to root, plus a new network namespace that
    has only ``lo``), followed by a tiny shim that brings ``lo`` up and execs the command.
    The prefix is probed once per process with a real command and cached; ``[]`` means the
    kernel does not allow it here (the scrubbed environment and the loopback-only endpoint
    checks still apply).
    """
    return list(_probe_netns())


# --- the policy --------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """Day or night. Night is the default: the strict mode is the one you get by accident."""

    mode: Mode = "night"
    #: hosts of the user's own network a night may use besides loopback (model endpoints,
    #: ``pantheon serve`` binds, connections); empty: loopback only
    allowed_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(
                f"unknown policy mode {self.mode!r}; expected one of {', '.join(MODES)}"
            )
        hosts = tuple(self.allowed_hosts)
        object.__setattr__(self, "allowed_hosts", hosts)
        _parsed_hosts(hosts)  # a bad entry is a ConfigError naming it

    def host_allowed(self, host: str) -> bool:
        """Whether night mode lets this host be used: loopback, or in ``allowed_hosts``."""
        if is_loopback_host(host):
            return True
        nets, names = _parsed_hosts(self.allowed_hosts)
        return _host_matches(host, nets, names)

    @property
    def is_night(self) -> bool:
        return self.mode == "night"

    def preflight(self, env: Mapping[str, str] | None = None) -> None:
        """At night, refuse to start while a cloud credential is set."""
        if not self.is_night:
            return
        found = find_credentials(os.environ if env is None else env)
        if not found:
            return
        names = ", ".join(found)
        plural = "s" if len(found) > 1 else ""
        raise PolicyError(
            f"night mode refuses to start: cloud credential{plural} in the environment: {names}",
            hint=(
                f"unset {' '.join(found)} (or start with "
                f"`env {' '.join('-u ' + n for n in found)} pantheon …`), "
                "or run with --day"
            ),
        )

    def check_runtime(self, agent_name: str, origin: str) -> None:
        """At night, refuse an agent whose runtime origin is not ``local``."""
        if not self.is_night or origin == "local":
            return
        raise PolicyError(
            f"night mode refuses agent '{agent_name}': its runtime origin is {origin!r}, "
            "only 'local' runtimes may run at night",
            hint="give the agent a local runtime, or run with --day",
        )

    def check_endpoint(self, url: str) -> None:
        """At night, refuse a model endpoint that is not loopback, a Unix socket or on a
        host of ``allowed_hosts``."""
        if not self.is_night or is_local_endpoint(url):
            return
        if self.allowed_hosts:
            target = url.strip() if "://" in url else "//" + url.strip()
            try:
                host = urlsplit(target).hostname
            except ValueError:
                host = None
            if host and self.host_allowed(host):
                return
        raise PolicyError(
            f"night mode refuses model endpoint {url!r}: only loopback "
            "(127.0.0.0/8, ::1, localhost), Unix sockets"
            f"{' and ' + ', '.join(self.allowed_hosts) if self.allowed_hosts else ''}"
            " are allowed at night",
            hint="serve the model on 127.0.0.1 or a Unix socket, list the host in "
            "pantheon.toml's [policy] allowed_hosts, or run with --day",
        )

    def check_bind(self, host: str) -> None:
        """At night, refuse to serve on an address that is not loopback or a host of
        ``allowed_hosts`` (``0.0.0.0`` is every interface: never at night)."""
        if not self.is_night or self.host_allowed(host):
            return
        raise PolicyError(
            f"night mode refuses to serve on {host!r}: only loopback (127.0.0.1, ::1, "
            "localhost)"
            f"{', ' + ', '.join(self.allowed_hosts) if self.allowed_hosts else ''}"
            " may be bound at night",
            hint="use --host 127.0.0.1, list this machine's address in pantheon.toml's "
            "[policy] allowed_hosts, or run with --day",
        )

    def egress_guard(self) -> contextlib.AbstractContextManager[None]:
        """At night, the in-process egress guard for a ``with`` body (letting the hosts of
        ``allowed_hosts`` through); by day, nothing."""
        return _egress_guard(self.allowed_hosts) if self.is_night \
            else contextlib.nullcontext()

    @contextlib.contextmanager
    def enforce(self, env: Mapping[str, str] | None = None) -> Iterator[None]:
        """Preflight, then (at night) keep the in-process egress guard on for the body."""
        self.preflight(env)
        with self.egress_guard():
            yield

    def tool_context(self, workspace: Path, env: Mapping[str, str] | None = None) -> ToolContext:
        """The :class:`ToolContext` tools run under.

        Night: scrubbed environment and the empty-network-namespace prefix (where the kernel
        allows one). Day: the environment as it is, no prefix.
        """
        source = os.environ if env is None else env
        if self.is_night:
            return ToolContext(
                workspace=workspace, env=scrubbed_env(source), command_prefix=netns_prefix()
            )
        return ToolContext(workspace=workspace, env=dict(source), command_prefix=[])

    def describe(self) -> dict[str, Any]:
        """What is in force, for ``run.json`` and the morning report."""
        prefix = netns_prefix() if self.is_night else []
        described: dict[str, Any] = {
            "mode": self.mode,
            "egress_guard": self.is_night,
            "tool_netns": bool(prefix),
            "tool_env_scrubbed": self.is_night,
        }
        if self.allowed_hosts:
            described["allowed_hosts"] = list(self.allowed_hosts)
        return described
