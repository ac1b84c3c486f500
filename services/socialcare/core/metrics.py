"""Prometheus metrics shared by the platform's plumbing (base units, bounded labels).

Service-specific metrics (e.g. first-response time) live with their service; these are
the ones the consumer loop and the HTTP layer record in every process.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECORDS_PROCESSED = Counter(
    "socialcare_records_processed_total",
    "Records a consumer group handled (including those sent to the DLQ).",
    ["group", "topic"],
)
RECORDS_DEAD_LETTERED = Counter(
    "socialcare_records_dead_lettered_total",
    "Records a consumer group could not process and sent to the topic's DLQ.",
    ["group", "topic"],
)
PROCESSING_RETRIES = Counter(
    "socialcare_processing_retries_total",
    "Batches retried after a transient failure (backend unavailable, handler error).",
    ["group"],
)
CONSUMER_LAG = Gauge(
    "socialcare_consumer_lag_records",
    "Records not yet read by a consumer group member, per topic.",
    ["group", "topic"],
)
BATCH_SECONDS = Histogram(
    "socialcare_batch_seconds",
    "Time to process and make durable one polled batch.",
    ["group"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
