"""Find secret- or credential-looking strings in training text, so none reaches a dataset.

A dataset outlives the run it came from: it is copied, shared and baked into weights. An
example whose prompt or reply holds something that looks like a key is dropped, not
redacted (a redacted prompt is no longer the prompt the loop sent). :func:`find_secrets`
names what it found by label only; the matched text itself is never returned or logged.

What counts as a secret (see :data:`PATTERNS`): provider key formats (AWS access key ids,
GitHub, OpenAI/Anthropic-style ``sk-`` keys, Slack, Google, Hugging Face tokens, JWTs),
private key blocks, assignments to credential-like names (``password=...``,
``OPENAI_API_KEY=...``, any name :func:`pantheon_engine.policy.looks_secret` flags) and
long high-entropy tokens that mix upper case, lower case and digits.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

from pantheon_engine.policy import looks_secret

#: label -> pattern of a well-known credential format
PATTERNS: dict[str, re.Pattern[str]] = {
    "aws_access_key": re.compile(r"\b(AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),
    "private_key": re.compile(r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----"),
    "github_token": re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"),
    "sk_key": re.compile(r"\bsk-([A-Za-z]+-)?[A-Za-z0-9_-]{20,}"),
    "slack_token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "google_api_key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}"),
    "hf_token": re.compile(r"\bhf_[A-Za-z0-9]{30,}"),
    "jwt": re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
}
#: ``password = "..."``, ``api_key: ...``, ``token=...``: a credential word, then a value
_ASSIGNMENT = re.compile(
    r"(?i)(?<![a-z0-9])(password|passwd|pwd|passphrase|secret|client_secret|api[_-]?key|apikey"
    r"|access[_-]?key|secret[_-]?key|auth[_-]?token|access[_-]?token|token)"
    r"[\"']?\s*[:=]\s*[\"']?(?P<value>[^\s\"',;}{]{4,})")
#: ``NAME=value`` / ``NAME: value`` for upper-case names (environment variables, settings)
_NAMED = re.compile(r"\b(?P<name>[A-Z][A-Z0-9_]{2,})[\"']?\s*[:=]\s*[\"']?"
                    r"(?P<value>[^\s\"',;]{6,})")
_TOKEN = re.compile(r"[A-Za-z0-9+/_=-]{24,}")
#: bits per character above which a long mixed token reads as random
ENTROPY_BITS = 4.0
_PLACEHOLDERS = frozenset({"****", "xxxx", "<redacted>", "redacted", "changeme", "none",
                           "null", "true", "false", "example"})


def shannon_bits(text: str) -> float:
    """Shannon entropy of ``text`` in bits per character."""
    if not text:
        return 0.0
    counts = Counter(text)
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _high_entropy(token: str) -> bool:
    core = token.strip("=")
    if len(core) < 24:
        return False
    kinds = (any(c.islower() for c in core), any(c.isupper() for c in core),
             any(c.isdigit() for c in core))
    if not all(kinds):  # words, hex digests and numbers are not flagged
        return False
    if sum(c.isdigit() for c in core) < 3:  # CamelCaseIdentifiersWithOneDigit2
        return False
    return shannon_bits(core) >= ENTROPY_BITS


def _placeholder(value: str) -> bool:
    low = value.lower().strip("<>\"'")
    return low in _PLACEHOLDERS or set(low) <= {"*", "x", ".", "-"} or low.startswith("$")


def find_secrets(text: str) -> list[str]:
    """Labels of the secret-looking things in ``text`` (each label once, in a fixed order).

    Empty when nothing looks like a secret. Labels: the keys of :data:`PATTERNS`,
    ``assignment`` (a credential word assigned a value), ``credential_name`` (a name
    :func:`~pantheon_engine.policy.looks_secret` flags, assigned a value) and
    ``high_entropy`` (a long random-looking token).
    """
    found: list[str] = [label for label, pattern in PATTERNS.items() if pattern.search(text)]
    if any(not _placeholder(m.group("value")) for m in _ASSIGNMENT.finditer(text)):
        found.append("assignment")
    if any(looks_secret(m.group("name")) and not _placeholder(m.group("value"))
           for m in _NAMED.finditer(text)):
        found.append("credential_name")
    if any(_high_entropy(m.group(0)) for m in _TOKEN.finditer(text)):
        found.append("high_entropy")
    return found


def scan_texts(texts: Iterable[str]) -> list[str]:
    """:func:`find_secrets` over several texts: every label found in any of them, once."""
    labels: dict[str, None] = {}
    for text in texts:
        for label in find_secrets(text):
            labels[label] = None
    return list(labels)
