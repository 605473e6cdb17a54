"""Prefixed, time-sortable ids: `usr_` + 26 Crockford base32 characters (48-bit milliseconds,
80 random bits, like a ULID). Lexical order is creation order, also within one millisecond of
one process (the random part is incremented), so ids double as a cursor for pagination."""

from __future__ import annotations

import secrets
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case: sorts like ASCII
_RANDOM_BITS = 80
_lock = threading.Lock()
_last_ms = -1
_last_random = 0

PREFIXES = frozenset(
    {"usr", "crs", "cpn", "enr", "pmt", "att", "rfd", "evt", "job", "whk", "key", "msg", "dsp"}
    | {"plt", "whe", "wdl"}  # platforms, outbound webhook endpoints and deliveries
    | {"rsk", "pal"}  # risk flags, payment-attempt audit log
    | {"adm"}  # admin actions (the audit trail)
)


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    global _last_ms, _last_random
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            # Same (or a backwards-stepped) millisecond: keep order by counting up.
            now_ms = _last_ms
            _last_random = (_last_random + 1) % (1 << _RANDOM_BITS)
        else:
            _last_ms = now_ms
            _last_random = secrets.randbits(_RANDOM_BITS - 1)  # headroom for increments
        random_part = _last_random
    return f"{prefix}_{_encode((now_ms << _RANDOM_BITS) | random_part, 26)}"


def has_prefix(value: str, prefix: str) -> bool:
    """A cheap shape check; a wrong shape can answer 404 without a query."""
    body = value[len(prefix) + 1 :]
    return value.startswith(prefix + "_") and len(body) == 26 and all(c in _ALPHABET for c in body)
