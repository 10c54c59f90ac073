"""The citizen-upload rate limit: the real client address behind trusted proxies only, one count shared by
every process through the database (SQLite and PostgreSQL), and no clear IP address stored."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from vigie.api import routes_shoreline
from vigie.api.app import create_app
from vigie.errors import ConfigError
from vigie.services.rate_limits import RateLimiter, address_key, client_address
from vigie.settings import Settings, load_settings
from vigie.store.db import make_sessionmaker
from vigie.store.models import RateLimitHit

from .conftest import TEST_SECRET

PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:ffff::/48")]


# --- the client address -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("198.51.100.9", ["203.0.113.7"], "198.51.100.9"),  # not from a proxy: the header is anyone's
        ("10.0.0.2", [], "10.0.0.2"),
        ("10.0.0.2", ["203.0.113.7"], "203.0.113.7"),
        # The client wrote a forged first entry; the rightmost untrusted hop is what our proxy saw.
        ("10.0.0.2", ["198.51.100.1, 203.0.113.7, 10.0.0.3"], "203.0.113.7"),
        ("10.0.0.2", ["198.51.100.1", "203.0.113.7"], "203.0.113.7"),  # the header repeated
        ("10.0.0.2", ["10.0.0.9, 10.0.0.3"], "10.0.0.9"),  # every hop ours: the farthest
        ("10.0.0.2", ["203.0.113.7:4711"], "203.0.113.7"),
        ("10.0.0.2", ["[2001:db8::1]:443"], "2001:db8::1"),
        ("2001:db8:ffff::5", ["203.0.113.7"], "203.0.113.7"),
        ("::ffff:10.0.0.2", ["203.0.113.7"], "203.0.113.7"),  # IPv4-mapped peer
        # Malformed chains are ignored as a whole, never partly believed.
        ("10.0.0.2", ["203.0.113.7, not-an-ip"], "10.0.0.2"),
        ("10.0.0.2", ["203.0.113.7,,198.51.100.1"], "10.0.0.2"),
        ("10.0.0.2", ["unknown"], "10.0.0.2"),
        ("10.0.0.2", [""], "10.0.0.2"),
        ("10.0.0.2", ["999.1.1.1"], "10.0.0.2"),
        ("testclient", ["203.0.113.7"], "testclient"),  # not an IP: never a proxy
        (None, ["203.0.113.7"], "unknown"),
    ],
)
def test_client_address(peer: str | None, forwarded: list[str], expected: str) -> None:
    assert client_address(peer, forwarded, PROXIES) == expected


def test_address_key_is_a_keyed_hash_grouping_ipv6_by_64() -> None:
    key = address_key("203.0.113.7", TEST_SECRET)
    assert len(key) == 64 and "203" not in key
    assert key == address_key("203.0.113.7", TEST_SECRET)
    assert key != address_key("203.0.113.8", TEST_SECRET)
    assert key != address_key("203.0.113.7", TEST_SECRET + "other")
    same_64 = address_key("2001:db8:1:2::1", TEST_SECRET)
    assert same_64 == address_key("2001:db8:1:2:ffff::9", TEST_SECRET)
    assert same_64 != address_key("2001:db8:1:3::1", TEST_SECRET)


def test_trusted_proxies_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_TRUSTED_PROXIES", " 10.0.0.5, 172.16.0.0/12 ,2001:db8::/32")
    assert Settings(_env_file=None).trusted_proxies == [
        ipaddress.ip_network("10.0.0.5/32"),
        ipaddress.ip_network("172.16.0.0/12"),
        ipaddress.ip_network("2001:db8::/32"),
    ]
    monkeypatch.setenv("VIGIE_TRUSTED_PROXIES", "")
    assert Settings(_env_file=None).trusted_proxies == []
    monkeypatch.setenv("VIGIE_TRUSTED_PROXIES", "10.0.0.5,proxy.local")
    with pytest.raises(ConfigError, match=r"trusted_proxies.*'proxy\.local'.*CIDR"):
        load_settings()


# --- the limit in the database ------------------------------------------------------------------------

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _hits(engine: sqlalchemy.Engine) -> list[RateLimitHit]:
    with make_sessionmaker(engine)() as session:
        return list(session.scalars(select(RateLimitHit).order_by(RateLimitHit.id)))


def test_sliding_window_refusals_not_counted_and_pruning(engine: sqlalchemy.Engine) -> None:
    limiter = RateLimiter(scope="test", limit=2, window_s=60, prune_every_s=0)
    other_scope = RateLimiter(scope="other", limit=1, window_s=3600)
    with make_sessionmaker(engine)() as session:
        assert other_scope.allow(session, key="k", now=T0)
        seconds = [0, 1, 2, 30, 61, 62]
        allowed = [limiter.allow(session, key="k", now=T0 + timedelta(seconds=s)) for s in seconds]
        # t=61: the t=0 hit has left the window; t=62: the t=1 one too
        assert allowed == [True, True, False, False, True, True]
        assert limiter.allow(session, key="another", now=T0 + timedelta(seconds=62))
    rows = [(r.scope, r.key, r.at) for r in _hits(engine)]
    # The refused t=2 and t=30 attempts left no row; the t=0 and t=1 rows were pruned; other scopes kept.
    assert rows == [
        ("other", "k", T0),
        ("test", "k", T0 + timedelta(seconds=61)),
        ("test", "k", T0 + timedelta(seconds=62)),
        ("test", "another", T0 + timedelta(seconds=62)),
    ]


def _settings(db_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "secret_key": TEST_SECRET,
        "database_url": db_url,
        "bootstrap_admin_token": None,
        "data_dir": tmp_path / "data",
        "samples_dir": None,
    }
    return Settings(_env_file=None, **(values | overrides))


@contextmanager
def _clients(
    settings: Settings, peers: list[str], *, engine: sqlalchemy.Engine | None = None, limit: int
) -> Iterator[list[TestClient]]:
    """One app (one "process", on its own engine unless given one) with a client per peer address."""
    app = create_app(settings, engine=engine)
    with ExitStack() as stack:
        clients = [stack.enter_context(TestClient(app, client=(peer, 50000))) for peer in peers]
        app.state.shoreline_upload_limiter = routes_shoreline.upload_rate_limiter(limit=limit, window_s=600)
        yield clients


def _upload(client: TestClient, forwarded_for: str | None = None) -> int:
    # An unknown station: the attempt is counted before anything is looked up, and refused with a 404.
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    response = client.post(
        "/api/v1/shoreline/stations/nowhere/photos?process=false",
        files={"photo": ("p.jpg", b"junk", "image/jpeg")},
        headers=headers,
    )
    if response.status_code == 429:
        assert response.json()["error"] == "rate_limited"
    return response.status_code


def test_two_processes_share_the_limit(engine: sqlalchemy.Engine, db_url: str, tmp_path: Path) -> None:
    settings = _settings(db_url, tmp_path)
    with (
        _clients(settings, ["198.51.100.1", "198.51.100.2"], engine=engine, limit=3) as (first, other),
        _clients(settings, ["198.51.100.1"], limit=3) as (second,),  # its own engine on the same database
    ):
        codes = [_upload(client) for client in (first, second, first, second, first)]
        assert codes == [404, 404, 404, 429, 429]
        assert _upload(other) == 404  # another address has its own count


def test_forwarded_for_only_from_a_trusted_proxy(
    engine: sqlalchemy.Engine, db_url: str, tmp_path: Path
) -> None:
    untrusted = _settings(db_url, tmp_path)
    with _clients(untrusted, ["10.0.0.1"], engine=engine, limit=1) as (client,):
        # Without trusted proxies, a forged header changes nothing: same peer, same count.
        assert [_upload(client, "203.0.113.1"), _upload(client, "203.0.113.2")] == [404, 429]

    trusted = _settings(db_url, tmp_path, trusted_proxies="10.0.0.0/8")
    with _clients(trusted, ["10.0.0.2"], engine=engine, limit=1) as (proxy,):
        assert _upload(proxy, "203.0.113.1") == 404
        assert _upload(proxy, "203.0.113.2") == 404  # another citizen behind the same proxy
        assert _upload(proxy, "198.51.100.50, 203.0.113.1") == 429  # a forged first hop does not help
        assert _upload(proxy, "203.0.113.1, not-an-ip") == 404  # malformed: counted on the proxy...
        assert _upload(proxy) == 429  # ...whose own address is now at its limit

    stored = _hits(engine)
    clear = ["10.0.0.1", "10.0.0.2", "203.0.113.1", "203.0.113.2", "198.51.100.50"]
    assert not [(r.scope, r.key) for r in stored if any(ip in f"{r.scope} {r.key}" for ip in clear)]
    assert sorted(r.key for r in stored) == sorted(
        address_key(ip, TEST_SECRET) for ip in ("10.0.0.1", "203.0.113.1", "203.0.113.2", "10.0.0.2")
    )
    assert {r.scope for r in stored} == {routes_shoreline.UPLOAD_SCOPE}


def test_refused_attempts_leave_no_row(engine: sqlalchemy.Engine, db_url: str, tmp_path: Path) -> None:
    with _clients(_settings(db_url, tmp_path), ["198.51.100.7"], engine=engine, limit=2) as (client,):
        assert [_upload(client) for _ in range(6)] == [404, 404, 429, 429, 429, 429]
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count()).select_from(RateLimitHit)) == 2
