"""Migration 0006: one all-sites fire-danger level per day, duplicates stored before it reduced to one."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert, inspect, select

from vigie.store.db import downgrade, make_engine, upgrade
from vigie.store.models import FireDangerLevel

DAY = date(2026, 7, 14)
T0 = datetime(2026, 7, 14, 6, 0, tzinfo=UTC)


def _all_sites_indexes(engine) -> list[str]:
    return [
        index["name"]
        for index in inspect(engine).get_indexes("fire_danger_levels")
        if index["name"] == "uq_fire_danger_levels_day_all_sites"
    ]


def test_upgrade_keeps_the_latest_all_sites_level_of_each_day_then_downgrade_drops_the_guard(db_url):
    upgrade(db_url, "0005")
    engine = make_engine(db_url)
    try:
        table = FireDangerLevel.__table__
        with engine.begin() as connection:
            connection.execute(
                insert(table),
                [
                    {"site_id": None, "day": DAY, "level": 2, "set_by": "morning", "set_at": T0},
                    {
                        "site_id": None,
                        "day": DAY,
                        "level": 5,
                        "set_by": "noon",
                        "set_at": T0 + timedelta(hours=6),
                    },
                    {
                        "site_id": None,
                        "day": DAY,
                        "level": 3,
                        "set_by": "dawn",
                        "set_at": T0 - timedelta(hours=1),
                    },
                    {
                        "site_id": None,
                        "day": DAY + timedelta(days=1),
                        "level": 1,
                        "set_by": "next",
                        "set_at": T0,
                    },
                ],
            )
        upgrade(db_url, "0006")
        with engine.connect() as connection:
            rows = connection.execute(
                select(table.c.day, table.c.level, table.c.set_by).order_by(table.c.day)
            )
            assert [tuple(row) for row in rows] == [(DAY, 5, "noon"), (DAY + timedelta(days=1), 1, "next")]
        assert _all_sites_indexes(engine) == ["uq_fire_danger_levels_day_all_sites"]

        downgrade(db_url, "0005")
        assert _all_sites_indexes(engine) == []
    finally:
        engine.dispose()
