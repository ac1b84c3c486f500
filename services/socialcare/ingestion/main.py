"""Wiring of the ingestion service: what it adds to a process (`socialcare run ingestion`).

Start-up order matters: the seen-ids set is rebuilt from `social.messages.raw` here, before
`parts` returns, so the HTTP and gRPC doors open only once re-deliveries can be recognised.
Signals and shutdown are the runtime's (`core.runtime.serve`).

Ingestion also runs the channel connectors (ADR 0006): the platforms' webhooks and the
feed pollers come in through the same `Ingestor`.
"""

from __future__ import annotations

from socialcare.channels.feeds import feed_pollers
from socialcare.channels.outbound.processor import GROUP as CONNECTORS_GROUP
from socialcare.channels.outbound.processor import OutboundSettings, outbound_processor
from socialcare.channels.webhooks import channels_router
from socialcare.core.clock import utc_now
from socialcare.core.runtime import Component, Runtime, ServiceParts
from socialcare.ingestion.admission import Admission
from socialcare.ingestion.api import ingestion_router
from socialcare.ingestion.dedupe import load_seen_ids
from socialcare.ingestion.ingestor import Ingestor
from socialcare.ingestion.rpc import IngestGrpcServer, IngestServicer
from socialcare.ingestion.seen_follower import SeenIdsFollower
from socialcare.ingestion.settings import IngestionSettings


def parts(runtime: Runtime) -> ServiceParts:
    """REST `POST /v1/messages`, the channel webhooks, the feed pollers, the connectors that
    send agents' replies and, unless its port is 0, the gRPC IngestService; the REST and
    gRPC ingest calls go through one `Admission` (503 / UNAVAILABLE `overloaded`)."""
    settings = IngestionSettings.from_platform(runtime.settings)
    seen, replay_ends = load_seen_ids(runtime.bus, capacity=settings.ingest_dedupe_max_ids)
    ingestor = Ingestor(runtime.producer, seen, flush_timeout_s=settings.ingest_flush_timeout_s)
    # One bound for both doors: they share the process's threads, memory and producer.
    admission = Admission(
        max_requests=settings.ingest_max_in_flight,
        max_bytes=settings.ingest_max_in_flight_bytes,
        max_delay_s=settings.ingest_max_delay_s,
    )
    components: list[Component] = [SeenIdsFollower(runtime.bus, seen, replay_ends)]
    if settings.ingest_grpc_port:
        components.append(
            IngestGrpcServer(
                IngestServicer(ingestor, runtime.auth(bootstrap=False).authenticator, admission),
                host=settings.http_host,
                port=settings.ingest_grpc_port,
                workers=settings.ingest_grpc_workers,
                grace_s=settings.ingest_grpc_grace_s,
            )
        )
    if settings.feeds_enabled and (pollers := feed_pollers(ingestor, runtime.care)):
        components.append(pollers)
    if settings.connectors_enabled:
        outbound = OutboundSettings()
        processor = outbound_processor(runtime.bus, runtime.care, utc_now, outbound)
        runtime.on_close(processor.close)
        components.append(
            runtime.consumer_loop(CONNECTORS_GROUP, processor, batch_size=outbound.batch_size)
        )
    webhooks = channels_router(
        ingestor,
        runtime.care,
        max_body_bytes=settings.webhook_max_body_bytes,
        platform_rate_per_s=settings.webhook_platform_rate_per_s,
        platform_burst=settings.webhook_platform_burst,
    )
    return ServiceParts(
        components=components, routers=[ingestion_router(ingestor, admission), webhooks]
    )
