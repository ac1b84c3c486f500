"""Wiring for escalation: policies and tiers, crisis detection and notifications.

Five consumer groups, each scaling out by partition on its own:
  * "escalation": care.sla, care.cases and care.commands in, care.escalations out (tiers,
    acknowledgements, re-escalation at the deadline);
  * "escalation-incidents": care.incidents in, care.commands out (a crisis incident raised
    or resolved as an escalation on its first case);
  * "crisis-signals": care.cases in, escalation.crisis-signals out (one signal per new
    inbound message);
  * "crisis": the one-partition signals topic in, care.incidents out (one detector sees
    every brand's traffic in order; its state is snapshotted in escalation.crisis-state);
  * "notifications": care.escalations and care.incidents in, signed webhooks and e-mail
    out; offsets are committed only after every target got its message or gave up.
"""

from __future__ import annotations

from socialcare.core.clock import utc_now
from socialcare.core.runtime import Runtime, ServiceParts
from socialcare.escalation import crisis_processor, signals
from socialcare.escalation.crisis_processor import CrisisProcessor
from socialcare.escalation.notify import processor as notify
from socialcare.escalation.notify.processor import NotificationProcessor
from socialcare.escalation.processor import (
    GROUP,
    INCIDENT_GROUP,
    EscalationProcessor,
    IncidentCommandProcessor,
)


def parts(runtime: Runtime) -> ServiceParts:
    care = runtime.care
    escalations = EscalationProcessor(care, utc_now, changelog=runtime.bus)
    notifier = NotificationProcessor(care, utc_now)
    runtime.on_close(notifier.close)
    return ServiceParts(
        components=[
            runtime.consumer_loop(GROUP, escalations),
            runtime.consumer_loop(INCIDENT_GROUP, IncidentCommandProcessor()),
            runtime.consumer_loop(signals.GROUP, signals.SignalsProcessor(care)),
            runtime.consumer_loop(
                crisis_processor.GROUP,
                CrisisProcessor(care, utc_now, changelog=runtime.bus),
            ),
            runtime.consumer_loop(notify.GROUP, notifier, batch_size=50),
        ]
    )
