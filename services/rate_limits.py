"""Rate limits shared by every API process, and the client address they are keyed on.

Hits live in the database (`rate_limit_hits`), so that several uvicorn workers or hosts share one count.
A hit is keyed on an HMAC of the client address with the secret key: the table never holds a clear IP.

`client_address` believes X-Forwarded-For only from a trusted reverse proxy: behind one, the direct peer
is the proxy and every citizen would otherwise share its address (and its limit).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from vigie.store.models import RateLimitHit
from vigie.store.types import utcnow

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Domain separation: the same secret keys API tokens and plates; an address hash must never match those.
_KEY_CONTEXT = b"vigie rate-limit client address v1"
# An IPv6 client usually holds a whole /64: counting each address apart would let it walk around the limit.
IPV6_CLIENT_PREFIX = 64


# --- the client address -------------------------------------------------------------------------------


def _parse_address(text: str) -> IPAddress | None:
    """An address from `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`; None if malformed."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port (some proxies add it)
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:1.2.3.4 is 1.2.3.4
    return address


def _is_trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]) -> str:
    """The address a request comes from, as a normalised string.

    `peer` is the TCP peer; `forwarded_for` the X-Forwarded-For header values, in order. The header is
    used only when the peer is a trusted proxy: then the answer is the rightmost address of the chain that
    is not itself trusted (the leftmost entries are written by the client and can be forged). A malformed
    chain is ignored (the peer is returned), never trusted.
    """
    peer_address = _parse_address(peer or "")
    fallback = str(peer_address) if peer_address is not None else (peer or "unknown")
    if peer_address is None or not forwarded_for or not _is_trusted(peer_address, trusted):
        return fallback
    chain = [_parse_address(part) for value in forwarded_for for part in value.split(",")]
    if not chain or any(a is None for a in chain):
        return fallback
    for address in reversed(chain):
        if not _is_trusted(address, trusted):  # type: ignore[arg-type]
            return str(address)
    return str(chain[0])  # every hop is one of ours: the farthest one is the client


def address_key(address: str, secret: str | SecretStr) -> str:
    """Hex HMAC-SHA256 of the client address (its /64 for IPv6), keyed by the process secret."""
    parsed = _parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        address = str(ipaddress.ip_network(f"{parsed}/{IPV6_CLIENT_PREFIX}", strict=False))
    elif parsed is not None:
        address = str(parsed)
    raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    key = hmac.new(raw.encode(), _KEY_CONTEXT, hashlib.sha256).digest()
    return hmac.new(key, address.encode(), hashlib.sha256).hexdigest()


# --- the limit ----------------------------------------------------------------------------------------


@dataclass
class RateLimiter:
    """At most `limit` hits per key in a sliding `window_s`, counted in the database.

    `allow` commits the session it is given (its hit must be visible to the other processes before it
    counts): call it first in a request, before any other write.
    """

    scope: str
    limit: int
    window_s: float
    prune_every_s: float = 60.0
    _last_prune: float | None = field(default=None, init=False, repr=False)

    def allow(self, session: Session, *, key: str, now: datetime | None = None) -> bool:
        """Record a hit for `key`; False (and the hit forgotten) when the window already holds `limit`.

        The hit is committed before the count, so that of two processes racing for the last place at
        least one refuses: the limit can be undershot in a race, never exceeded.
        """
        now = now or utcnow()
        hit = RateLimitHit(scope=self.scope, key=key, at=now)
        session.add(hit)
        session.flush()
        hit_id = hit.id
        session.commit()
        since = now - timedelta(seconds=self.window_s)
        count = session.scalar(
            select(func.count())
            .select_from(RateLimitHit)
            .where(RateLimitHit.scope == self.scope, RateLimitHit.key == key, RateLimitHit.at > since)
        )
        allowed = (count or 0) <= self.limit
        if not allowed:  # refusals are not counted: a client retrying in a loop gets back in after a window
            session.execute(delete(RateLimitHit).where(RateLimitHit.id == hit_id))
        self._prune(session, before=since)
        session.commit()
        return allowed

    def _prune(self, session: Session, *, before: datetime) -> None:
        """Drop this scope's hits older than the window, at most once per `prune_every_s` per process."""
        tick = time.monotonic()
        if self._last_prune is not None and tick - self._last_prune < self.prune_every_s:
            return
        self._last_prune = tick
        session.execute(
            delete(RateLimitHit).where(RateLimitHit.scope == self.scope, RateLimitHit.at <= before)
        )
