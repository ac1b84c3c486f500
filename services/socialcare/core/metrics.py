"""Prometheus metrics shared by the platform's plumbing (base units, bounded labels).

Service-specific metrics (e.g. first-response time) live with their service; these are
the ones the consumer loop, the HTTP layer and the gRPC servers record in every process:
the RED metrics (rate, errors, duration) of every HTTP route and gRPC method, labelled
with the route's template (never the raw path) or the method's name, so labels stay bounded.
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
    "Records not yet read by a consumer group member, per partition it owns (a partition's "
    "series moves with the partition on a rebalance).",
    ["group", "topic", "partition"],
)
BATCH_SECONDS = Histogram(
    "socialcare_batch_seconds",
    "Time to process and make durable one polled batch.",
    ["group"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# Latency buckets shared by HTTP and gRPC (seconds): sub-millisecond reads to slow searches.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

HTTP_REQUESTS = Counter(
    "socialcare_http_requests_total",
    "HTTP requests answered, by the service that owns the route, the method, the route "
    "template (`unmatched` when no route matched) and the status code.",
    ["service", "method", "route", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "socialcare_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response body.",
    ["service", "method", "route"],
    buckets=_LATENCY_BUCKETS,
)
# gRPC labels are grpc_service/grpc_method/grpc_code (the names of go-grpc-prometheus and
# grpc-ecosystem dashboards): `service` is the label Prometheus's scrape config gives every
# series (the socialcare service of the process), and the gRPC service's full name is not it.
GRPC_HANDLED = Counter(
    "socialcare_grpc_server_handled_total",
    "gRPC calls finished, by gRPC service (full name, e.g. socialcare.v1.CaseService), "
    "method and status code (OK, NOT_FOUND, UNAVAILABLE...).",
    ["grpc_service", "grpc_method", "grpc_code"],
)
GRPC_HANDLING_SECONDS = Histogram(
    "socialcare_grpc_server_handling_seconds",
    "Time a gRPC call took in the server (a stream: until its last message was sent).",
    ["grpc_service", "grpc_method"],
    buckets=_LATENCY_BUCKETS,
)
