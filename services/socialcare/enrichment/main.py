"""Wiring for enrichment: one consumer loop from social.messages.raw to .enriched."""

from __future__ import annotations

from socialcare.core.clock import utc_now
from socialcare.core.runtime import Runtime, ServiceParts
from socialcare.enrichment import language
from socialcare.enrichment.customer import CustomerLookup
from socialcare.enrichment.processor import GROUP, EnrichmentProcessor
from socialcare.enrichment.settings import EnrichmentSettings


def parts(runtime: Runtime) -> ServiceParts:
    settings = EnrichmentSettings.from_platform(runtime.settings)
    language.configure(low_accuracy=settings.language_low_accuracy)
    customers = CustomerLookup.from_settings(settings, runtime.care)
    runtime.on_close(customers.close)
    loop = runtime.consumer_loop(
        GROUP, EnrichmentProcessor(utc_now, runtime.care, customers=customers)
    )
    return ServiceParts(components=[loop])
