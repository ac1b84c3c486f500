"""A case's life as routing writes it to care.cases: snapshots whose clocks change through
`socialcare.core.domain.sla_clocks`, the arithmetic routing itself uses, so the sla book is
tested against the clocks it will really see."""

from __future__ import annotations

from datetime import datetime, timedelta

from socialcare.core.clock import to_timestamp
from socialcare.core.domain import sla_clocks
from socialcare.core.domain.sla_config import SlaPolicy
from socialcare.sla.domain import sla_event_id
from socialcare.v1 import case_pb2, message_pb2
from tests.unit.factories import T0

POLICY = SlaPolicy.model_validate(
    {
        "name": "en-care",
        "languages": ["en"],
        "first_response": "1h",
        "next_response": "2h",
        "resolution": "1d",
    }
)
FR = case_pb2.SLA_CLOCK_KIND_FIRST_RESPONSE
NR = case_pb2.SLA_CLOCK_KIND_NEXT_RESPONSE
RES = case_pb2.SLA_CLOCK_KIND_RESOLUTION


def minutes(count: float) -> datetime:
    return T0 + timedelta(minutes=count)


class Life:
    """One case; every method is a routing step and returns the snapshot it publishes."""

    def __init__(self, case_id: str = "c1", *, resolution: bool = True) -> None:
        self.case = case_pb2.Case(
            id=case_id,
            status=case_pb2.CASE_STATUS_OPEN,
            language="en",
            channel=message_pb2.CHANNEL_FACEBOOK,
            queue="care-en",
            priority="normal",
            brand="acme",
            team="Care",
            customer_tier="gold",
        )
        self.resolution = resolution
        self.first_responses = 0
        self.next_responses = 0
        self.resolutions = 0

    def _start(
        self, kind: case_pb2.SlaClockKind.ValueType, cycle: int, at: datetime
    ) -> case_pb2.SlaClock:
        target = sla_clocks.target_for(POLICY, kind)
        assert target is not None
        return sla_clocks.start_clock(
            kind=kind,
            cycle=cycle,
            policy=POLICY,
            target_seconds=target,
            calendar_name="",
            calendar=None,
            at=at,
            team=self.case.team,
        )

    def commit(self, at: datetime) -> case_pb2.CaseEvent:
        self.case.version += 1
        self.case.updated_at.CopyFrom(to_timestamp(at))
        snapshot = case_pb2.Case()
        snapshot.CopyFrom(self.case)
        return case_pb2.CaseEvent(event_id=f"{self.case.id}-v{self.case.version}", case=snapshot)

    def open(self, at: datetime) -> case_pb2.CaseEvent:
        self.first_responses += 1
        self.case.status = case_pb2.CASE_STATUS_OPEN
        self.case.assignee = ""
        self.case.sla.CopyFrom(self._start(FR, self.first_responses, at))
        if self.resolution:
            self.resolutions += 1
            self.case.resolution_sla.CopyFrom(self._start(RES, self.resolutions, at))
        return self.commit(at)

    reopen = open

    def assign(self, agent: str, at: datetime) -> case_pb2.CaseEvent:
        self.case.assignee = agent
        self.case.status = case_pb2.CASE_STATUS_ASSIGNED
        return self.commit(at)

    def reply(self, at: datetime) -> case_pb2.CaseEvent:
        sla_clocks.stop_clock(self.case.sla, None, at)
        sla_clocks.pause_clock(self.case.resolution_sla, None, at)
        self.case.status = case_pb2.CASE_STATUS_WAITING_ON_CUSTOMER
        return self.commit(at)

    def customer(self, at: datetime) -> case_pb2.CaseEvent:
        """A customer message after an agent reply: next-response clock, resolution runs."""
        sla_clocks.resume_clock(self.case.resolution_sla, None, at)
        self.next_responses += 1
        self.case.sla.CopyFrom(self._start(NR, self.next_responses, at))
        self.case.status = case_pb2.CASE_STATUS_ASSIGNED
        return self.commit(at)

    def resolve(self, at: datetime) -> case_pb2.CaseEvent:
        sla_clocks.stop_clock(self.case.sla, None, at)
        sla_clocks.stop_clock(self.case.resolution_sla, None, at)
        self.case.status = case_pb2.CASE_STATUS_RESOLVED
        return self.commit(at)

    def merge(self, into: str, at: datetime) -> case_pb2.CaseEvent:
        """Merged into another case: it closes and its clocks are cancelled."""
        sla_clocks.cancel_clock(self.case.sla, None, at)
        sla_clocks.cancel_clock(self.case.resolution_sla, None, at)
        self.case.status = case_pb2.CASE_STATUS_CLOSED
        self.case.merged_into = into
        return self.commit(at)

    def warned(self, resolution: bool, threshold: float, at: datetime) -> case_pb2.CaseEvent:
        """Routing applied a WARNING from care.sla."""
        clock = self.case.resolution_sla if resolution else self.case.sla
        sla_clocks.mark_warned(clock, threshold)
        self.case.applied_ids.append(self.warning_id(resolution, threshold))
        return self.commit(at)

    def breached(self, resolution: bool, at: datetime) -> case_pb2.CaseEvent:
        """Routing applied a BREACHED from care.sla."""
        clock = self.case.resolution_sla if resolution else self.case.sla
        sla_clocks.mark_breached(clock)
        self.case.applied_ids.append(self.breach_id(resolution))
        return self.commit(at)

    def at_risk(self, at: datetime) -> case_pb2.CaseEvent:
        sla_clocks.mark_at_risk(self.case.sla)
        return self.commit(at)

    def _clock(self, resolution: bool) -> case_pb2.SlaClock:
        return self.case.resolution_sla if resolution else self.case.sla

    def warning_id(self, resolution: bool, threshold: float) -> str:
        clock = self._clock(resolution)
        return sla_event_id(self.case.id, clock.kind, clock.cycle, "warning", f"{threshold:g}")

    def breach_id(self, resolution: bool) -> str:
        clock = self._clock(resolution)
        return sla_event_id(self.case.id, clock.kind, clock.cycle, "breached")


def ids(
    case_id: str, kind: case_pb2.SlaClockKind.ValueType, cycle: int, *milestones: str
) -> set[str]:
    """Event ids of milestones written "paused 2" / "warning 0.75" / "met"."""
    found = set()
    for milestone in milestones:
        name, _, detail = milestone.partition(" ")
        found.add(sla_event_id(case_id, kind, cycle, name, detail))
    return found
