"""Wiring for escalation: care.sla in, care.escalations out."""

from __future__ import annotations

from socialcare.core.clock import utc_now
from socialcare.core.runtime import Runtime, ServiceParts
from socialcare.escalation.processor import GROUP, EscalationProcessor


def parts(runtime: Runtime) -> ServiceParts:
    loop = runtime.consumer_loop(GROUP, EscalationProcessor(utc_now))
    return ServiceParts(components=[loop])
