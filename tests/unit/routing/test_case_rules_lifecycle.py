"""The case rules of the lifecycle commands (claim, consult, answer, await customer, reopen,
merge, refer, set priority) and of resolving a case with open questions: the gateway and
routing both judge with them, so each code and field named here is what an agent sees."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from socialcare.core.domain import case_rules
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.case_rules import CommandRejectedError, RejectionCode, check_command
from socialcare.v1 import case_pb2, commands_pb2

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CARE = CareConfig.model_validate(
    {
        "sla_policies": [{"name": "any", "languages": ["*"], "first_response": "1h"}],
        "queues": [{"name": "care", "languages": ["*"]}],
        "agents": [
            {"id": "sanne", "name": "Sanne", "languages": ["nl", "en"], "capacity": 2},
            {"id": "olivia", "name": "Olivia", "languages": ["en"], "capacity": 1},
        ],
        "intents": [
            {"name": "billing", "keywords": {"en": ["invoice"]}},
            {"name": "praise", "keywords": {"en": ["thanks"]}, "question": False},
        ],
    }
)


def case(
    status: case_pb2.CaseStatus.ValueType = case_pb2.CASE_STATUS_ASSIGNED, **fields: object
) -> case_pb2.Case:
    values: dict[str, object] = {"language": "en", "assignee": "sanne", **fields}
    return case_pb2.Case(id="c1", status=status, **values)  # type: ignore[arg-type]


def command(**action: object) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(command_id="k1", case_id="c1", **action)  # type: ignore[arg-type]


def rejected(c: case_pb2.Case, cmd: commands_pb2.AgentCommand) -> CommandRejectedError:
    with pytest.raises(CommandRejectedError) as caught:
        check_command(c, cmd, CARE, NOW)
    return caught.value


def test_resolve_waits_for_every_question_and_ignores_non_questions() -> None:
    intents = [
        case_pb2.CaseIntent(name="billing"),
        case_pb2.CaseIntent(name="delivery"),  # not in the taxonomy: still a question
        case_pb2.CaseIntent(name="praise"),
    ]
    error = rejected(
        case(intents=intents), command(resolve=commands_pb2.ResolveCase(agent="sanne"))
    )
    assert (error.code, error.field, error.is_conflict) == ("questions_open", "answers", True)
    assert "billing, delivery" in error.reason
    answered = [case_pb2.CaseIntent(name=i.name, answered=True) for i in intents[:2]]
    done = case(intents=[*answered, intents[2]])
    assert (
        check_command(done, command(resolve=commands_pb2.ResolveCase(agent="sanne")), CARE, NOW).id
        == "sanne"
    )


def test_resolve_is_not_asked_twice_while_the_customer_has_not_answered() -> None:
    pending = case(
        case_pb2.CASE_STATUS_WAITING_ON_CUSTOMER,
        resolution_check=case_pb2.ResolutionCheck(
            outcome=case_pb2.RESOLUTION_OUTCOME_PENDING, proposed_by="olivia"
        ),
    )
    error = rejected(pending, command(resolve=commands_pb2.ResolveCase(agent="sanne")))
    assert error.code == RejectionCode.RESOLUTION_PENDING and "olivia" in error.reason


def test_reply_answers_must_name_questions_on_the_case() -> None:
    c = case(intents=[case_pb2.CaseIntent(name="billing")])
    ok = command(reply=commands_pb2.ReplyToCase(agent="sanne", text="Done", answers=["billing"]))
    check_command(c, ok, CARE, NOW)
    bad = command(reply=commands_pb2.ReplyToCase(agent="sanne", text="Done", answers=["refund"]))
    error = rejected(c, bad)
    assert (error.code, error.field, error.is_conflict) == ("unknown_question", "answers", False)
    assert "billing" in error.reason


@pytest.mark.parametrize(
    "action",
    [
        {"claim": commands_pb2.ClaimCase(agent="olivia")},
        {"await_customer": commands_pb2.AwaitCustomer(agent="sanne")},
        {"refer": commands_pb2.ReferCase(agent="sanne", to="store")},
        {
            "consult": commands_pb2.ConsultSpecialist(
                agent="sanne", specialist="olivia", question="?"
            )
        },
        {"reopen": commands_pb2.ReopenCase(agent="sanne")},
        {"reply": commands_pb2.ReplyToCase(agent="sanne", text="hi")},
        {"set_priority": commands_pb2.SetPriority(agent="sanne", level="high")},
        {"merge": commands_pb2.MergeCase(agent="sanne", into_case_id="c2")},
    ],
)
def test_a_closed_case_takes_no_lifecycle_command(action: dict[str, object]) -> None:
    error = rejected(case(case_pb2.CASE_STATUS_CLOSED, merged_into="c0"), command(**action))
    assert (error.code, error.is_conflict) == ("case_closed", True)
    assert "merged into c0" in error.reason


def test_claim_needs_an_unresolved_case_a_speaker_and_not_the_owner() -> None:
    resolved = case(case_pb2.CASE_STATUS_RESOLVED)
    assert (
        rejected(resolved, command(claim=commands_pb2.ClaimCase(agent="olivia"))).code
        == "case_resolved"
    )
    assert (
        rejected(case(), command(claim=commands_pb2.ClaimCase(agent="sanne"))).code
        == "already_owner"
    )
    dutch = case(case_pb2.CASE_STATUS_OPEN, language="nl", assignee="")
    error = rejected(dutch, command(claim=commands_pb2.ClaimCase(agent="olivia")))
    assert (error.code, error.field) == ("language_not_spoken", "agent")
    # Held by another agent: the assigner decides, not the rules.
    assert (
        check_command(case(), command(claim=commands_pb2.ClaimCase(agent="olivia")), CARE, NOW).id
        == "olivia"
    )


def test_reopen_only_a_resolved_case() -> None:
    reopen = command(reopen=commands_pb2.ReopenCase(agent="sanne", reason="customer called"))
    assert check_command(case(case_pb2.CASE_STATUS_RESOLVED), reopen, CARE, NOW).id == "sanne"
    error = rejected(case(), reopen)
    assert (error.code, error.is_conflict) == ("case_not_resolved", True)
    assert "assigned" in error.reason


def test_consultation_answered_once_by_its_specialist() -> None:
    asked = case(
        consultations=[case_pb2.Consultation(id="q1", specialist="olivia", asked_by="sanne")]
    )
    answer = commands_pb2.AnswerConsultation(
        specialist="olivia", consultation_id="q1", answer="Reset it"
    )
    assert check_command(asked, command(answer_consultation=answer), CARE, NOW).id == "olivia"
    by_other = commands_pb2.AnswerConsultation(specialist="sanne", consultation_id="q1", answer="x")
    assert rejected(asked, command(answer_consultation=by_other)).field == "specialist"
    missing = commands_pb2.AnswerConsultation(specialist="olivia", consultation_id="q9", answer="x")
    assert rejected(asked, command(answer_consultation=missing)).code == "unknown_consultation"
    blank = commands_pb2.AnswerConsultation(specialist="olivia", consultation_id="q1", answer=" ")
    assert rejected(asked, command(answer_consultation=blank)).code == "answer_empty"
    asked.consultations[0].answered_at.FromDatetime(NOW)
    error = rejected(asked, command(answer_consultation=answer))
    assert (error.code, error.is_conflict) == ("consultation_answered", True)


def test_consult_names_another_specialist_and_a_question() -> None:
    def consult(**fields: str) -> CommandRejectedError:
        return rejected(
            case(), command(consult=commands_pb2.ConsultSpecialist(agent="sanne", **fields))
        )

    assert consult(specialist="olivia").code == "question_empty"
    assert consult(specialist="sanne", question="?").code == "self_consult"
    assert consult(specialist="ghost", question="?").field == "specialist"


def test_merge_refer_and_priority_name_their_field() -> None:
    into_self = rejected(
        case(), command(merge=commands_pb2.MergeCase(agent="sanne", into_case_id="c1"))
    )
    assert (into_self.code, into_self.field, into_self.is_conflict) == (
        "merge_into_self",
        "into_case_id",
        False,
    )
    refer = rejected(case(), command(refer=commands_pb2.ReferCase(agent="sanne", to=" ")))
    assert (refer.code, refer.field) == ("referral_target_empty", "to")
    level = rejected(
        case(), command(set_priority=commands_pb2.SetPriority(agent="sanne", level="asap"))
    )
    assert (level.code, level.field) == ("unknown_priority", "level")
    back = command(set_priority=commands_pb2.SetPriority(agent="sanne", level=""))
    assert check_command(case(), back, CARE, NOW).id == "sanne"


def test_open_questions_in_the_order_asked() -> None:
    c = case(
        intents=[
            case_pb2.CaseIntent(name="billing"),
            case_pb2.CaseIntent(name="billing", answered=True),
        ]
    )
    assert case_rules.open_questions(c, CARE) == ["billing"]


def test_link_identity_checks_the_value_as_its_kind() -> None:
    def link(kind: str, value: str) -> commands_pb2.AgentCommand:
        return command(
            link_identity=commands_pb2.LinkIdentity(agent="sanne", kind=kind, value=value)
        )

    assert check_command(case(), link("email", "Jan@Example.NL"), CARE, NOW).id == "sanne"
    assert (
        case_rules.check_link_identity(case(), link("email", "Jan@Example.NL").link_identity)
        == "jan@example.nl"
    )
    bad_value = rejected(case(), link("email", "jan at example"))
    assert (bad_value.code, bad_value.field) == ("invalid_identity", "value")
    bad_kind = rejected(case(), link("fax", "123"))
    assert (bad_kind.code, bad_kind.field) == ("invalid_identity", "kind")
