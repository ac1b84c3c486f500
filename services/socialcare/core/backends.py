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
        settings.bus.removeprefix("kafka://"), default_partitions=settings.topic_partitions
    )


def open_search(settings: PlatformSettings) -> SearchIndex:
    if settings.search == "embedded":
        from socialcare.core.search.embedded import EmbeddedSearchIndex

        return EmbeddedSearchIndex(settings.data_dir / "search")
    from socialcare.core.search.elastic import ElasticsearchIndex

    return ElasticsearchIndex(settings.search, index_prefix=settings.search_index_prefix)
