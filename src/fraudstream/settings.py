"""One way in for configuration.

:class:`Settings` is read once, at an entry point (the CLI or the API's
lifespan), from ``FRAUDSTREAM_*`` environment variables (nested groups use a
double underscore: ``FRAUDSTREAM_KAFKA__BOOTSTRAP_SERVERS``) and an optional
``.env`` file. Library code receives the sub-model it needs and never reads the
environment itself.

Each area owns its group below; add fields to the group of the area you work on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class TopicSettings(BaseModel):
    """Topic names and partition counts (defaults follow the product design)."""

    transactions: str = "transactions"
    scores: str = "fraud-scores"
    alerts: str = "fraud-alerts"
    dead_letter: str = "dead-letter"
    feedback: str = "feedback"
    user_events: str = "user-events"
    user_events_scored: str = "user-events-scored"

    transactions_partitions: int = Field(6, ge=1)
    scores_partitions: int = Field(6, ge=1)
    alerts_partitions: int = Field(3, ge=1)
    dead_letter_partitions: int = Field(1, ge=1)
    feedback_partitions: int = Field(1, ge=1)
    user_events_partitions: int = Field(6, ge=1)
    user_events_scored_partitions: int = Field(6, ge=1)

    def partition_counts(self) -> dict[str, int]:
        """Map every topic name to its partition count."""
        return {
            self.transactions: self.transactions_partitions,
            self.scores: self.scores_partitions,
            self.alerts: self.alerts_partitions,
            self.dead_letter: self.dead_letter_partitions,
            self.feedback: self.feedback_partitions,
            self.user_events: self.user_events_partitions,
            self.user_events_scored: self.user_events_scored_partitions,
        }


class KafkaSettings(BaseModel):
    """Connection to a Kafka cluster and the local development broker."""

    bootstrap_servers: str = "127.0.0.1:9092"
    schema_registry_url: str | None = None
    client_id: str = "fraudstream"
    linger_ms: int = Field(5, ge=0)
    batch_size_bytes: int = Field(1_048_576, ge=1)
    compression_type: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"
    # Local broker launched by `fraudstream kafka start` (jars from Maven Central).
    kafka_version: str = "4.1.0"
    local_data_dir: Path = Path("var/kafka")
    local_controller_port: int = Field(9093, ge=1, le=65535)
    local_cache_dir: Path = Path("~/.cache/fraudstream")
    local_heap_mb: int = Field(512, ge=128)
    # -1 = the broker's default.replication.factor (1 on the local broker).
    topic_replication_factor: int = Field(-1, ge=-1)
    transaction_timeout_ms: int = Field(60_000, ge=1000)
    session_timeout_ms: int = Field(45_000, ge=1000)


class DatabaseSettings(BaseModel):
    """The system of record: SQLite by default, PostgreSQL in production."""

    url: str = "sqlite:///var/fraudstream.db"
    echo_sql: bool = False
    pool_size: int = Field(5, ge=1)
    connect_timeout_s: int = Field(5, ge=1)
    migrate_on_start: bool = True
    # The sink: records per database transaction, and its back-off while the database is down.
    sink_group_id: str = "fraudstream-sink"
    sink_batch_records: int = Field(5000, ge=1)
    sink_poll_timeout_s: float = Field(0.5, gt=0)
    sink_backoff_initial_s: float = Field(0.2, gt=0)
    sink_backoff_max_s: float = Field(5.0, gt=0)


class PipelineSettings(BaseModel):
    """The exactly-once scoring loop."""

    group_id: str = "fraudstream-scorer"
    max_batch_records: int = Field(1000, ge=1)
    commit_interval_ms: int = Field(100, ge=1)
    worker_id: str = "worker-0"
    # Scorer by registry key: "amount-rule" is the placeholder (seed rule + card velocity).
    detector: str = "ensemble"  # "amount-rule": the seed tutorial's placeholder
    codec: Literal["avro", "json"] = "avro"
    poll_timeout_ms: int = Field(20, ge=0)
    # Transactional producers a worker uses in turn: while one's commit markers are
    # written the next transaction runs on another (no CONCURRENT_TRANSACTIONS wait).
    txn_producers: int = Field(2, ge=1, le=4)
    metrics_port: int | None = Field(None, ge=1, le=65535)
    # Also run user-events -> user-events-scored (graph click model; the placeholder rule
    # only when no click model is saved, logged as such).
    score_user_events: bool = True


class ApiKeySettings(BaseModel):
    """One API key: who it is (recorded in the audit trail) and the roles it carries."""

    name: str = Field(min_length=1, max_length=64)
    key: SecretStr
    roles: list[Literal["ingest", "analyst", "admin"]] = Field(min_length=1)


class ApiSettings(BaseModel):
    """The HTTP service.

    ``api_keys`` is a JSON list in the environment, e.g.
    ``FRAUDSTREAM_API__API_KEYS='[{"name": "shop", "key": "...", "roles": ["ingest"]}]'``.
    With no keys configured every protected route answers 401.
    """

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_body_bytes: int = Field(1_048_576, ge=1)
    card_hash_key: SecretStr = SecretStr("change-me-in-production")
    api_keys: list[ApiKeySettings] = Field(default_factory=list)
    max_batch_payments: int = Field(1000, ge=1)
    ledger_max_batch: int = Field(512, ge=1)
    # The payment ledger waits this long for more requests before committing a batch.
    ledger_coalesce_ms: float = Field(1.0, ge=0.0, le=50.0)
    access_log: bool = False


class GeneratorSettings(BaseModel):
    """The transaction simulator (``fraudstream generate transactions``)."""

    seed: int = 42
    fraud_rate: float = Field(0.005, ge=0.0, lt=0.5)
    n_customers: int = Field(100_000, ge=50)
    n_merchants: int = Field(5_000, ge=1)
    tx_per_customer_per_day: float = Field(3.0, gt=0.0)
    start_time: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    # Events generated per internal chunk; part of what makes a seed reproducible.
    chunk_size: int = Field(8192, ge=64)
    # Approximate share of fraud records per scenario (normalised).
    scenario_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "card_testing": 0.2,
            "account_takeover": 0.15,
            "stolen_card_spree": 0.2,
            "fraud_ring": 0.15,
            "mule_chain": 0.15,
            "high_amount": 0.15,
        }
    )


class DetectionSettings(BaseModel):
    """Online detection: features, rules, decision policy (see docs/detection.md)."""

    rules_path: Path | None = None  # None: the packaged detect/rules/default.yaml
    rules_check_interval_s: float = Field(5.0, gt=0.0)
    model_check_interval_s: float = Field(30.0, gt=0.0)
    use_model: bool = True  # False: rules-only even when a champion model is promoted
    medium_threshold: float = Field(0.3, ge=0.0, le=1.0)
    review_threshold: float = Field(0.6, ge=0.0, le=1.0)
    block_threshold: float = Field(0.9, ge=0.0, le=1.0)
    adaptive_threshold: bool = False
    adaptive_quantile: float = Field(0.99, gt=0.0, lt=1.0)
    adaptive_window: int = Field(10_000, ge=1)
    adaptive_floor: float = Field(0.3, ge=0.0, le=1.0)
    adaptive_ceiling: float = Field(0.9, ge=0.0, le=1.0)
    adaptive_min_samples: int = Field(1_000, ge=1)
    alert_budget: int | None = Field(None, ge=0)  # max REVIEW+BLOCK per period; None: off
    alert_budget_period_s: int = Field(3_600, ge=1)
    explain_top_k: int = Field(3, ge=0)
    explain_all: bool = False  # False: model reasons for REVIEW/BLOCK rows only (cheaper)
    max_events_per_key: int = Field(1024, ge=1)
    max_seen_per_card: int = Field(32, ge=1)
    # The live-graph GNN signal (docs/gnn.md): FRAUDSTREAM_DETECTION__GRAPH=on.
    graph: bool = False
    graph_weight: float = Field(0.1, ge=0.0, le=1.0)  # blend weight of the GNN score
    graph_model_dir: Path | None = None  # None: <model_dir>/live-gnn; no model: reasons only
    graph_fanout: int = Field(16, ge=1)  # most recent neighbours sampled per node and hop
    graph_max_neighbours: int = Field(32, ge=1, le=1024)


class LearnSettings(BaseModel):
    """Training and evaluation (see docs/models.md)."""

    datasets_dir: Path = Path("../shared/datasets")  # the shared real datasets
    cache_dir: Path = Path("var/cache")  # computed feature frames
    reports_dir: Path = Path("reports")  # JSON + Markdown evaluation reports


class OnlineLearningSettings(BaseModel):
    """The feedback -> online model updater (``fraudstream learn``, docs/operations.md)."""

    group_id: str = "fraudstream-learner"
    batch_size: int = Field(50, ge=1)  # labelled rows per partial_fit
    max_wait_s: float = Field(30.0, gt=0.0)  # flush a smaller batch after this long
    feature_wait_s: float = Field(120.0, ge=0.0)  # wait for the sink to store the features
    require_both_classes: bool = False  # hold one-class batches even once the model is fitted
    auto_promote: bool = True  # promote an update whose parent is still the champion
    positive_weight: float = Field(10.0, gt=0.0)  # cold-start model's fraud class weight
    metrics_port: int | None = Field(None, ge=1, le=65535)


class DriftSettings(BaseModel):
    """Drift monitoring (PSI / KS) and the retraining trigger (docs/operations.md)."""

    bins: int = Field(10, ge=2)
    window_records: int = Field(5_000, ge=10)  # recent scores compared with the reference
    min_records: int = Field(500, ge=1)
    psi_threshold: float = Field(0.25, gt=0.0)
    ks_threshold: float = Field(0.2, gt=0.0, le=1.0)
    min_drifted_features: int = Field(3, ge=1)  # or the score itself drifted
    retrain_on_drift: bool = False
    retrain_n_transactions: int = Field(60_000, ge=1_000)
    reference_path: Path | None = None  # None: the champion's drift_reference.json


class Settings(BaseSettings):
    """Everything a fraudstream process can be configured with.

    Example:
        >>> s = Settings(bus="memory")
        >>> s.topics.transactions
        'transactions'
    """

    model_config = SettingsConfigDict(
        env_prefix="FRAUDSTREAM_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    bus: Literal["memory", "kafka"] = "memory"
    data_dir: Path = Path("var")
    model_dir: Path = Path("var/models")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = False
    # Where services bind their Prometheus /metrics (0.0.0.0 in containers).
    metrics_host: str = "127.0.0.1"

    topics: TopicSettings = TopicSettings()
    kafka: KafkaSettings = KafkaSettings()
    database: DatabaseSettings = DatabaseSettings()
    pipeline: PipelineSettings = PipelineSettings()
    api: ApiSettings = ApiSettings()
    generator: GeneratorSettings = GeneratorSettings()
    detection: DetectionSettings = DetectionSettings()
    online_learning: OnlineLearningSettings = OnlineLearningSettings()
    drift: DriftSettings = DriftSettings()
    learn: LearnSettings = LearnSettings()
