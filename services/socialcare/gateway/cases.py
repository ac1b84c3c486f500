"""Client for routing's gRPC CaseService: the authoritative read of a case.

The search index lags routing by the indexer's delay, so anything that decides on a case's
current state (showing it to the agent who is about to answer, checking that it is not
resolved before a reply) asks routing.

Routing runs as N instances in one consumer group; each owns some partitions of the cases
and answers for those only (ADR 0005). The gateway does not know which instance owns which
partition (that changes with every rebalance), so it asks every instance at once and keeps
the owner's answer. The protocol, per instance:

- the case, when the instance owns the case's partition and has the case;
- NOT_FOUND, when it owns the partition and has no such case;
- FAILED_PRECONDITION, when it does not own the partition.

From the answers of all instances `get_case` decides, in this order:

1. some instance returned the case: the one with the highest `version` wins (during a
   rebalance the old and the new owner may both answer for a moment; the newer state wins);
2. some instance answered NOT_FOUND as the owner: there is no such case (None);
3. some instance failed otherwise (INTERNAL, ...): `CaseServiceError` (the owner may be the
   one that failed, so "not found" would be a guess);
4. the rest were unreachable, too slow, or not owners: `RoutingUnavailableError`, retry
   later. Either the owner is unreachable, or no instance owns the partition right now (a
   rebalance is moving it: every instance answered FAILED_PRECONDITION).

Where the instances are, and how every one is asked at once within one deadline:
`socialcare.gateway.instances` (`CaseTargets`, `InstancePool`). A request waits for every
instance's answer (or the deadline): a second owner's newer version can only be seen that way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import grpc

from socialcare.gateway.instances import (
    UNREACHABLE,
    Credential,
    InstancePool,
    Resolver,
    resolve_addresses,
)
from socialcare.v1 import case_pb2, services_pb2, services_pb2_grpc

log = logging.getLogger(__name__)

# "This instance does not own the case's partition": the protocol's answer of a non-owner.
_NOT_OWNER = grpc.StatusCode.FAILED_PRECONDITION

# ListCases returns at most this many cases per instance (routing's own bound).
MAX_LIST_LIMIT = 1000


class CaseServiceError(Exception):
    """Routing's CaseService failed on a request; the message has the gRPC status."""


class RoutingUnavailableError(CaseServiceError):
    """No routing instance could answer for the case now (unreachable, too slow, or its
    partition is between owners during a rebalance); retrying later may help."""


def _newest_first(case: case_pb2.Case) -> tuple[int, int, str]:
    """Routing's list order (newest opened first, then id), as a descending sort key."""
    return (case.opened_at.seconds, case.opened_at.nanos, case.id)


class CaseClient(InstancePool[services_pb2_grpc.CaseServiceStub]):
    """Reads cases from every routing instance. Thread-safe: request handlers share one.

    `targets` is a `CaseTargets` setting (see `CaseTargets.parse`); a single `host:port`
    keeps the one-instance behaviour. A name resolves on the first call and re-resolves
    every `refresh_s` in the background while calls go on to the instances already known
    (see `InstancePool`). Closed, or with no instance known: RoutingUnavailableError.
    `credential`: the metadata of every call (the gateway's service token, ADR 0014).
    """

    name = "gateway-case-client"

    def __init__(
        self,
        targets: str,
        *,
        timeout_s: float = 2.0,
        refresh_s: float = 30.0,
        resolver: Resolver = resolve_addresses,
        credential: Credential | None = None,
    ) -> None:
        super().__init__(
            targets,
            stub=services_pb2_grpc.CaseServiceStub,
            service="routing's CaseService",
            unavailable=RoutingUnavailableError,
            timeout_s=timeout_s,
            refresh_s=refresh_s,
            resolver=resolver,
            refresh_in_background=True,
            credential=credential,
        )

    def get_case(self, case_id: str) -> case_pb2.Case | None:
        """The current case from the instance owning its partition, or None when the owner
        knows no case with this id.

        Blocks for at most about `timeout_s` (plus a first name resolution). Raises
        RoutingUnavailableError when no owner answered (unreachable, too slow, or the
        partition is between owners), CaseServiceError when an instance failed otherwise;
        see the module docstring for the whole rule.
        """
        request = services_pb2.GetCaseRequest(case_id=case_id)
        found, failures = self.ask_all(lambda stub: stub.GetCase, request)
        if found:
            best = max(found, key=lambda case: case.version)
            if len(found) > 1:
                log.info(
                    "two routing instances answered for one case",
                    extra={"case_id": case_id, "versions": sorted(c.version for c in found)},
                )
            return best
        codes = {failure.code for failure in failures}
        if grpc.StatusCode.NOT_FOUND in codes:
            return None
        detail = f"CaseService.GetCase {case_id}: " + "; ".join(str(f) for f in failures)
        if codes - UNREACHABLE - {_NOT_OWNER}:
            raise CaseServiceError(detail)
        if codes & UNREACHABLE:
            raise RoutingUnavailableError(detail)
        raise RoutingUnavailableError(
            f"{detail} (no routing instance owns the case's partition now: "
            "a rebalance is moving it)"
        )

    def list_cases(
        self,
        *,
        status: case_pb2.CaseStatus.ValueType = case_pb2.CASE_STATUS_UNSPECIFIED,
        language: str = "",
        queue: str = "",
        limit: int = 100,
    ) -> list[case_pb2.Case]:
        """The newest `limit` cases matching the filters (empty = any), from every
        instance's ListCases merged: newest opened first, then by id (descending), each
        case once (the highest version, when two owners answered during a rebalance).

        Every instance must answer: a list missing some partitions would look complete.
        Raises RoutingUnavailableError when an instance is unreachable or too slow,
        CaseServiceError when one failed otherwise, ValueError for a limit outside
        1..MAX_LIST_LIMIT. Cases of a partition no instance owns at this moment (during a
        rebalance) are missing from the answer: routing's ListCases cannot say so.
        """
        if not 0 < limit <= MAX_LIST_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIST_LIMIT}, not {limit}")
        request = services_pb2.ListCasesRequest(
            status=status, language=language, queue=queue, limit=limit
        )
        answers, failures = self.ask_all(lambda stub: stub.ListCases, request)
        if failures:
            detail = "CaseService.ListCases: " + "; ".join(str(f) for f in failures)
            if {failure.code for failure in failures} <= UNREACHABLE:
                raise RoutingUnavailableError(detail)
            raise CaseServiceError(detail)
        newest: dict[str, case_pb2.Case] = {}
        for answer in answers:
            for case in answer.cases:
                known = newest.get(case.id)
                if known is None or case.version > known.version:
                    newest[case.id] = case
        return sorted(newest.values(), key=_newest_first, reverse=True)[:limit]

    def list_agent_states(self) -> services_pb2.ListAgentStatesResponse:
        """Every agent as routing's assigner sees them (presence, load, idle since).

        One instance runs the assigner (its one-partition topic has one owner); the others
        answer FAILED_PRECONDITION. Raises RoutingUnavailableError when none answered (the
        assigner's instance is unreachable, or its partition is between owners),
        CaseServiceError when an instance failed otherwise. During a rebalance two may
        answer for a moment: the first answer is taken (both are the state of one moment
        of the same changelog)."""
        answers, failures = self.ask_all(
            lambda stub: stub.ListAgentStates, services_pb2.ListAgentStatesRequest()
        )
        if answers:
            return answers[0]
        codes = {failure.code for failure in failures}
        detail = "CaseService.ListAgentStates: " + "; ".join(str(f) for f in failures)
        if codes - UNREACHABLE - {_NOT_OWNER}:
            raise CaseServiceError(detail)
        raise RoutingUnavailableError(
            f"{detail} (no routing instance runs the assigner now)"
            if codes <= {_NOT_OWNER}
            else detail
        )

    def satisfaction_report(
        self, request: services_pb2.SatisfactionReportRequest
    ) -> list[services_pb2.SatisfactionRow]:
        """The satisfaction answers of every routing instance added up, one row per (kind,
        channel, language), sorted by them.

        Each instance counts the cases of the partitions it owns, so every instance must
        answer (a sum missing some would look complete): RoutingUnavailableError when one
        is unreachable or too slow, CaseServiceError when one failed otherwise."""
        answers, failures = self.ask_all(lambda stub: stub.SatisfactionReport, request)
        if failures:
            detail = "CaseService.SatisfactionReport: " + "; ".join(str(f) for f in failures)
            if {failure.code for failure in failures} <= UNREACHABLE:
                raise RoutingUnavailableError(detail)
            raise CaseServiceError(detail)
        return merge_satisfaction_rows(row for answer in answers for row in answer.rows)


def merge_satisfaction_rows(
    rows: Iterable[services_pb2.SatisfactionRow],
) -> list[services_pb2.SatisfactionRow]:
    """Rows of one (kind, channel, language) added up: counts and per-score counts add."""
    merged: dict[tuple[int, str, str], services_pb2.SatisfactionRow] = {}
    for row in rows:
        key = (int(row.kind), row.channel, row.language)
        into = merged.get(key)
        if into is None:
            merged[key] = services_pb2.SatisfactionRow(
                kind=row.kind,
                channel=row.channel,
                language=row.language,
                sent=row.sent,
                answered=row.answered,
                score_counts=list(row.score_counts),
            )
            continue
        into.sent += row.sent
        into.answered += row.answered
        counts = list(into.score_counts)
        counts += [0] * (len(row.score_counts) - len(counts))
        for score, count in enumerate(row.score_counts):
            counts[score] += count
        del into.score_counts[:]
        into.score_counts.extend(counts)
    return [merged[key] for key in sorted(merged)]
