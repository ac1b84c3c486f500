"""The case's public JSON (API and search documents) shows the lifecycle: status names,
identities, questions, why the priority, the resolution round, the survey, consultations,
referrals, merges and the lifecycle's instants (RFC 3339)."""

from __future__ import annotations

from socialcare.core.clock import rfc3339, to_timestamp
from socialcare.core.domain.cases import STATUS_NAMES, STATUSES, case_json
from socialcare.v1 import case_pb2
from tests.unit.factories import T0


def test_every_status_has_a_name_in_lifecycle_order() -> None:
    assert list(STATUS_NAMES.values()) == [
        "new",
        "open",
        "assigned",
        "waiting_on_customer",
        "resolved",
        "closed",
    ]
    assert STATUSES["closed"] == case_pb2.CASE_STATUS_CLOSED


def test_the_lifecycle_fields_in_snake_case_with_rfc3339_instants() -> None:
    case = case_pb2.Case(
        id="c1",
        status=case_pb2.CASE_STATUS_RESOLVED,
        identities=[
            case_pb2.Identity(kind="email", value="jan@example.nl", display="jan@example.nl")
        ],
        intents=[
            case_pb2.CaseIntent(name="billing", answered=True, answered_by="r1", confidence=0.81234)
        ],
        priority_explanation=case_pb2.PriorityExplanation(
            score=0.5,
            level="high",
            factors=[
                case_pb2.PriorityFactor(
                    factor="reach",
                    signal=0.8,
                    weight=1,
                    contribution=0.2,
                    detail="245,000 followers",
                )
            ],
        ),
        resolution_check=case_pb2.ResolutionCheck(
            outcome=case_pb2.RESOLUTION_OUTCOME_CONFIRMED,
            proposed_by="sanne",
            round=1,
            asked_at=to_timestamp(T0),
        ),
        survey=case_pb2.Survey(
            kind=case_pb2.SURVEY_KIND_NPS, answered=True, score=0, comment="slow"
        ),
        consultations=[
            case_pb2.Consultation(id="q1", specialist="kenji", asked_by="sanne", question="?")
        ],
        referrals=[case_pb2.Referral(to="store", by="sanne")],
        merged_from=["c0"],
        resolved_at=to_timestamp(T0),
        reopen_until=to_timestamp(T0),
        previous_case_id="c-1",
        product="heatpump",
    )
    view = case_json(case)
    assert view["status"] == "resolved"
    assert view["identities"] == [
        {
            "kind": "email",
            "value": "jan@example.nl",
            "display": "jan@example.nl",
            "source": None,
            "linked_at": None,
        }
    ]
    assert view["intents"][0]["answered"] is True and view["intents"][0]["confidence"] == 0.8123
    assert view["priority_explanation"]["factors"][0]["detail"] == "245,000 followers"
    assert view["resolution_check"]["outcome"] == "confirmed"
    assert view["resolution_check"]["asked_at"] == rfc3339(to_timestamp(T0))
    assert view["survey"] == {
        "kind": "nps",
        "sent_at": None,
        "due_at": None,
        "answered": True,
        "score": 0,
        "answered_at": None,
        "comment": "slow",
        "question_id": None,
    }
    assert view["consultations"][0]["answer"] is None
    assert view["referrals"] == [{"to": "store", "by": "sanne", "note": None, "at": None}]
    assert (view["merged_into"], view["merged_from"], view["previous_case_id"]) == (
        None,
        ["c0"],
        "c-1",
    )
    assert view["resolved_at"] == view["reopen_until"] == view["resolution_check"]["asked_at"]
    assert (view["closed_at"], view["queue_position"], view["assigned_at"]) == (None, None, None)
    assert view["product"] == "heatpump"
    empty = case_json(case_pb2.Case(id="c2"))
    assert (
        empty["status"],
        empty["survey"],
        empty["resolution_check"],
        empty["priority_explanation"],
    ) == (
        "open",
        None,
        None,
        None,
    )
