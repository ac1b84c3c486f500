"""Wiring for SLA tracking: care.cases in, care.sla out, first-response metrics.

The breach timer runs in the consumer loop's `tick()`, on the loop's thread, so breaches
are published and committed like any other effect.
"""

from __future__ import annotations

from socialcare.core.clock import utc_now
from socialcare.core.runtime import Runtime, ServiceParts
from socialcare.sla.processor import GROUP, SlaProcessor


def parts(runtime: Runtime) -> ServiceParts:
    loop = runtime.consumer_loop(GROUP, SlaProcessor(runtime.bus, utc_now))
    return ServiceParts(components=[loop])
