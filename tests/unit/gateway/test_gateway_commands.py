"""The escalation commands `gateway.commands` builds for the REST routes and the console
alike: their fields, and ids that make a retry (from either) the same command."""

from __future__ import annotations

from datetime import UTC, datetime

from socialcare.core.clock import to_timestamp
from socialcare.gateway import commands
from socialcare.gateway.commands import command_id
from socialcare.v1 import escalation_pb2

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ESCALATION = escalation_pb2.Escalation(id="esc-1", case_id="acme-1", revision=3)


def test_escalate_strips_the_reason_and_keeps_the_clients_key() -> None:
    command = commands.escalate(
        "acme-1", "olivia", "  Press threat \n", None, idempotency_key="k1", now=NOW
    )
    assert command.case_id == "acme-1"
    assert command.issued_at == to_timestamp(NOW)
    assert (command.escalate.agent, command.escalate.reason) == ("olivia", "Press threat")
    assert command.escalate.tier == "", "where the agent-request policy starts"
    assert command.command_id == command_id("acme-1", "escalate", "k1")
    tiered = commands.escalate("acme-1", "olivia", "Help", "pr", idempotency_key=None, now=NOW)
    assert tiered.escalate.tier == "pr"
    assert (
        tiered.command_id
        != commands.escalate(
            "acme-1", "olivia", "Help", "pr", idempotency_key=None, now=NOW
        ).command_id
    ), "without a key each request is a new command"


def test_an_acknowledgement_is_one_per_escalation_revision() -> None:
    command = commands.acknowledge_escalation("acme-1", ESCALATION, "sanne", now=NOW)
    assert command.acknowledge_escalation.escalation_id == "esc-1"
    assert command.acknowledge_escalation.by == "sanne"
    assert command.command_id == command_id("acme-1", "acknowledge_escalation", "esc-1:3")
    again = commands.acknowledge_escalation("acme-1", ESCALATION, "sanne", now=NOW)
    assert again.command_id == command.command_id
    newer = escalation_pb2.Escalation(id="esc-1", case_id="acme-1", revision=4)
    assert (
        commands.acknowledge_escalation("acme-1", newer, "sanne", now=NOW).command_id
        != command.command_id
    )


def test_a_resolution_is_one_per_escalation() -> None:
    command = commands.resolve_escalation("acme-1", ESCALATION, "lars", "  Called back ", now=NOW)
    assert command.resolve_escalation.escalation_id == "esc-1"
    assert command.resolve_escalation.by == "lars"
    assert command.resolve_escalation.note == "Called back"
    assert command.command_id == command_id("acme-1", "resolve_escalation", "esc-1:resolve")
    bare = commands.resolve_escalation("acme-1", ESCALATION, "lars", None, now=NOW)
    assert bare.resolve_escalation.note == ""
    assert bare.command_id == command.command_id


def test_the_case_actions_carry_their_fields() -> None:
    reply = commands.reply(
        "acme-1",
        "olivia",
        "Hi",
        answers=["refund", " ", "refund", "delivery"],
        idempotency_key=None,
        now=NOW,
    )
    assert list(reply.reply.answers) == ["refund", "delivery"], "each question once"
    assert commands.claim("acme-1", "olivia", idempotency_key=None, now=NOW).claim.agent == (
        "olivia"
    )
    transfer = commands.transfer(
        "acme-1", "lars", " needs Dutch ", by="olivia", idempotency_key="k", now=NOW
    )
    assert (transfer.assign.agent, transfer.assign.reason, transfer.assign.by) == (
        "lars",
        "needs Dutch",
        "olivia",
    )
    assert transfer.command_id == command_id("acme-1", "assign", "k")
    consult = commands.consult(
        "acme-1",
        "olivia",
        "diego",
        " Which firmware? ",
        product="router",
        idempotency_key=None,
        now=NOW,
    )
    assert (consult.consult.specialist, consult.consult.question, consult.consult.product) == (
        "diego",
        "Which firmware?",
        "router",
    )
    resolve = commands.resolve("acme-1", "olivia", note=" swapped ", idempotency_key=None, now=NOW)
    assert resolve.resolve.note == "swapped"
    waiting = commands.await_customer(
        "acme-1", "olivia", note="order no", idempotency_key=None, now=NOW
    )
    assert waiting.await_customer.note == "order no"
    assert (
        commands.reopen("acme-1", "olivia", idempotency_key=None, now=NOW).reopen.agent == "olivia"
    )
    refer = commands.refer("acme-1", "olivia", " store ", note="n", idempotency_key=None, now=NOW)
    assert (refer.refer.to, refer.refer.note) == ("store", "n")
    priority = commands.set_priority(
        "acme-1", "olivia", "URGENT", reason="press", idempotency_key=None, now=NOW
    )
    assert (priority.set_priority.level, priority.set_priority.reason) == ("urgent", "press")
    assert (
        commands.set_priority("acme-1", "o", None, idempotency_key=None, now=NOW).set_priority.level
        == ""
    )


def test_answers_merges_and_links_are_one_command_each_without_a_key() -> None:
    def answer() -> str:
        return commands.answer_consultation(
            "acme-1", "diego", "c1", " v2 ", idempotency_key=None, now=NOW
        ).command_id

    assert answer() == answer()
    assert (
        answer()
        != commands.answer_consultation(
            "acme-1", "mei", "c1", "v2", idempotency_key=None, now=NOW
        ).command_id
    )

    def merge(into: str) -> str:
        return commands.merge("acme-2", "olivia", into, idempotency_key=None, now=NOW).command_id

    assert merge("acme-1") == merge("acme-1") != merge("acme-3")
    link = commands.link_identity(
        "acme-1", "olivia", " Email ", " a@b.nl ", idempotency_key=None, now=NOW
    )
    assert (link.link_identity.kind, link.link_identity.value) == ("email", "a@b.nl")
    assert (
        link.command_id
        == commands.link_identity(
            "acme-1", "lars", "email", "a@b.nl", idempotency_key=None, now=NOW
        ).command_id
    )
