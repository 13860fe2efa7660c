"""The sink through a real Kafka broker into a real PostgreSQL, including an outage."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fraudstream.bench.sink import Outage, run_sink_bench
from fraudstream.settings import KafkaSettings, Settings, TopicSettings
from tests._services import LocalPostgres

pytestmark = pytest.mark.integration


def _settings(kafka: KafkaSettings, topics: TopicSettings, db_url: str) -> Settings:
    return Settings(
        bus="kafka",
        kafka=kafka,
        topics=topics,
        database={
            "url": db_url,
            "sink_backoff_initial_s": 0.1,
            "sink_backoff_max_s": 1.0,
            "connect_timeout_s": 2,
        },
    )


def test_scored_records_reach_postgres_exactly_once(
    kafka_settings: KafkaSettings, unique_topics: Callable[..., TopicSettings], pg_url: str
) -> None:
    from tests.integration._db import fresh_pg_database

    for url in fresh_pg_database(pg_url):
        settings = _settings(kafka_settings, unique_topics(partitions={"scores": 3}), url)
        result = run_sink_bench(settings, 5000, timeout_s=120)
        assert result["scores_rows"] == 5000 and result["alerts_rows"] == 250
        assert result["exactly_once"] and result["db_retries"] == 0


@pytest.mark.slow
def test_a_database_outage_mid_run_loses_and_duplicates_nothing(
    kafka_settings: KafkaSettings,
    unique_topics: Callable[..., TopicSettings],
    pg_control: LocalPostgres,
) -> None:
    settings = _settings(kafka_settings, unique_topics(partitions={"scores": 3}), pg_control.url)
    outage = Outage(at_s=2.0, duration_s=6.0, stop=pg_control.stop, start=pg_control.start)
    result = run_sink_bench(settings, 20_000, rate=3000, outage=outage, timeout_s=240)
    assert result["db_retries"] > 0, "the sink never saw the outage"
    assert result["scores_rows"] == 20_000 and result["alerts_rows"] == 1000
    assert result["exactly_once"], result
