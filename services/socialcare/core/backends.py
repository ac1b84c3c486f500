"""Open the backends the settings name; the one place that knows which classes exist."""

from __future__ import annotations

from socialcare.core.bus import Bus
from socialcare.core.config import PlatformSettings
from socialcare.core.search import SearchIndex


def open_bus(settings: PlatformSettings) -> Bus:
    if settings.bus == "embedded":
        from socialcare.core.bus.embedded import EmbeddedBus

        return EmbeddedBus(
            settings.data_dir / "bus",
            default_partitions=settings.topic_partitions,
            sync=settings.embedded_sync,
        )
    from socialcare.core.bus.kafka import KafkaBus

    return KafkaBus(
        settings.bus.removeprefix("kafka://"),
        default_partitions=settings.topic_partitions,
        replication_factor=settings.topic_replication,
        security=settings.kafka_security(),
    )


def open_search(settings: PlatformSettings) -> SearchIndex:
    if settings.search == "embedded":
        from socialcare.core.search.embedded import EmbeddedSearchIndex

        return EmbeddedSearchIndex(settings.data_dir / "search")
    from socialcare.core.search.elastic import ElasticsearchIndex

    return ElasticsearchIndex(
        settings.search,
        index_prefix=settings.search_index_prefix,
        basic_auth=(
            (settings.search_username, settings.search_password.get_secret_value())
            if settings.search_username and settings.search_password
            else None
        ),
        ca_certs=str(settings.search_ca_certs) if settings.search_ca_certs else None,
    )
