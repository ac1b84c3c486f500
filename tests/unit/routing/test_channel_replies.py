"""Replies on real channels: what routing stores and hands to the connectors (signed text,
the account and recipient, the customer's last message time), the channel rules judged by
the shared case rules (signature counts towards the limit, WhatsApp's 24-hour window,
approved templates), and delivery reports applied to the reply in any order, once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from socialcare.core.clock import from_timestamp, to_timestamp
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.case_rules import CommandRejectedError, check_outbound
from socialcare.core.domain.cases import case_message_json
from socialcare.core.domain.deliveries import DELIVERED, FAILED, READ, SENT, delivery_event
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.routing.domain import CaseBook
from socialcare.v1 import case_pb2, commands_pb2, delivery_pb2, message_pb2
from tests.unit.factories import T0, enriched
from tests.unit.routing.harness import Routing, case_events, reply, resolve

CARE = CareConfig.model_validate(
    {
        # Resolving resolves at once here: the "has this been solved?" round has its own
        # tests (test_resolution.py).
        "routing": {"lifecycle": {"confirm_resolution": False, "survey": {"kind": "none"}}},
        "sla_policies": [{"name": "all-1h", "languages": ["*"], "first_response": "1h"}],
        "queues": [{"name": "care", "languages": ["*"]}],
        "agents": [
            {"id": "sanne", "name": "Sanne de Vries", "languages": ["nl", "en"], "capacity": 5},
        ],
        "brands": [
            {
                "name": "acme",
                "meta": {
                    "whatsapp_templates": [
                        {"name": "order_update", "language": "en_US"},
                        {"name": "order_update", "language": "nl"},
                    ]
                },
            },
            {"name": "globex", "signature": "{initials} | Globex care"},
        ],
    }
)
PHONE_NUMBER_ID = "106540352242922"  # the brand's WhatsApp number (metadata.phone_number_id)
WA_ID = "31612345678"  # the customer's WhatsApp id
TEMPLATE = commands_pb2.MessageTemplate(
    name="order_update", language="en_US", parameters=["A-1042", "Thursday"]
)


def whatsapp(
    external_id: str, *, written: datetime, received: datetime | None = None
) -> message_pb2.EnrichedMessage:
    """A WhatsApp text from the customer to the brand's number, as the Meta parser gives it:
    written at `written` (the webhook's `timestamp`), reaching us at `received`."""
    message = enriched(
        f"wamid.{external_id}",
        author=WA_ID,
        language="en",
        text="Where is my order? Photo of the label attached",
        channel=message_pb2.CHANNEL_WHATSAPP,
        thread_id=WA_ID,
        received=received or written,
    )
    message.message.created_at.CopyFrom(to_timestamp(written))
    message.message.kind = message_pb2.MESSAGE_KIND_DIRECT_MESSAGE
    message.message.account_id = PHONE_NUMBER_ID
    message.message.brand = "acme"
    message.message.author.name = "Kim"
    message.message.attachments.add(
        type="image", mime_type="image/jpeg", external_id="1479537139650973"
    )
    return message


def x_mention(
    external_id: str, *, brand: str = "acme", author: str = "2244994945"
) -> message_pb2.EnrichedMessage:
    message = enriched(external_id, author=author, language="en", thread_id="1850000000")
    message.message.kind = message_pb2.MESSAGE_KIND_MENTION
    message.message.account_id = "783214"
    message.message.brand = brand
    return message


def outbound(effects: list[Emit]) -> list[commands_pb2.OutboundReply]:
    replies = []
    for effect in effects:
        if effect.topic == Topic.OUTBOUND:
            assert isinstance(effect.message, commands_pb2.OutboundReply)
            replies.append(effect.message)
    return replies


def open_case(routing: Routing, message: message_pb2.EnrichedMessage) -> case_pb2.Case:
    return routing.case(case_events(routing.message(message))[0].case.id)


def rejection(effects: list[Emit]) -> tuple[str, str]:
    [event] = case_events(effects)
    assert event.type == case_pb2.CASE_EVENT_TYPE_COMMAND_REJECTED
    assert not outbound(effects)
    return event.rejection.code, event.rejection.field


# -- inbound -----------------------------------------------------------------------------------


def test_a_channel_message_keeps_its_kind_account_and_attachments_on_the_case() -> None:
    routing = Routing(CARE)
    case = open_case(routing, whatsapp("in1", written=T0))
    [inbound] = case.messages
    assert inbound.kind == message_pb2.MESSAGE_KIND_DIRECT_MESSAGE
    assert inbound.account_id == PHONE_NUMBER_ID
    assert [(a.type, a.mime_type, a.external_id) for a in inbound.attachments] == [
        ("image", "image/jpeg", "1479537139650973")
    ]
    view = case_message_json(inbound)
    assert view["kind"] == "direct_message"
    assert view["account_id"] == PHONE_NUMBER_ID
    assert view["attachments"] == [
        {
            "type": "image",
            "url": None,
            "mime_type": "image/jpeg",
            "external_id": "1479537139650973",
        }
    ]
    assert view["delivery"] is None


# -- what a reply becomes ----------------------------------------------------------------------


def test_a_reply_is_signed_and_leaves_through_the_account_the_customer_wrote_to() -> None:
    routing = Routing(CARE)
    case = open_case(routing, whatsapp("in1", written=T0 - timedelta(minutes=3), received=T0))
    emitted = routing.at(T0 + timedelta(minutes=10)).command(
        reply(case.id, "c1", text="Hi Kim, it ships tomorrow.  ")
    )
    [sent] = outbound(emitted)
    assert sent.text == "Hi Kim, it ships tomorrow. ^Sanne"
    assert sent.channel == message_pb2.CHANNEL_WHATSAPP
    assert sent.account_id == PHONE_NUMBER_ID
    assert sent.kind == message_pb2.MESSAGE_KIND_DIRECT_MESSAGE
    assert sent.recipient_id == WA_ID
    assert sent.in_reply_to == "wamid.in1"
    assert (sent.agent, sent.agent_name, sent.brand) == ("sanne", "Sanne de Vries", "acme")
    # The window runs from when the customer wrote, not when the webhook reached us.
    assert from_timestamp(sent.customer_last_message_at) == T0 - timedelta(minutes=3)
    assert not sent.HasField("template")
    # The case shows what the customer sees; the reply has not been reported on yet.
    stored = routing.case(case.id).messages[-1]
    assert stored.direction == case_pb2.DIRECTION_OUTBOUND
    assert stored.text == sent.text
    assert (stored.kind, stored.account_id) == (sent.kind, PHONE_NUMBER_ID)
    assert case_message_json(stored)["delivery"] == {
        "status": "pending",
        "platform_message_id": None,
        "reason": None,
        "error_code": None,
        "updated_at": None,
    }


def test_each_brand_signs_its_own_way_and_an_unknown_brand_signs_as_the_first() -> None:
    routing = Routing(CARE)
    globex = open_case(routing, x_mention("1850000001", brand="globex"))
    [sent] = outbound(routing.command(reply(globex.id, "c1", text="We are on it.")))
    # A signature longer than 16 characters goes on a line of its own.
    assert (sent.text, sent.brand) == ("We are on it.\nSdV | Globex care", "globex")
    other = open_case(routing, x_mention("1850000002", brand="initech", author="17874544"))
    [sent] = outbound(routing.command(reply(other.id, "c2", text="We are on it.")))
    assert (sent.text, sent.brand) == ("We are on it. ^Sanne", "acme")


def test_the_signature_counts_towards_the_channel_limit() -> None:
    routing = Routing(CARE)
    case = open_case(routing, x_mention("1850000001"))
    over = routing.command(reply(case.id, "c1", text="a" * 275))  # 282 signed
    assert rejection(over) == ("reply_too_long", "text")
    [event] = case_events(over)
    assert event.rejection.reason == (
        "282 characters including the signature (7 characters), x allows 280"
    )
    [sent] = outbound(routing.command(reply(case.id, "c2", text="a" * 273)))
    assert len(sent.text) == 280


# -- WhatsApp's customer-service window --------------------------------------------------------


def test_whatsapp_free_text_only_within_24_hours_of_the_customers_last_message() -> None:
    routing = Routing(CARE)
    written = T0
    # The webhook came two hours late: the window still runs from when Kim wrote.
    case = open_case(routing, whatsapp("in1", written=written, received=T0 + timedelta(hours=2)))
    inside = routing.at(written + timedelta(hours=23, minutes=59)).command(reply(case.id, "c1"))
    assert len(outbound(inside)) == 1
    closed = routing.at(written + timedelta(hours=24)).command(reply(case.id, "c2"))
    assert rejection(closed) == ("whatsapp_window_closed", "text")
    [event] = case_events(closed)
    assert "24 hours" in event.rejection.reason
    assert "order_update (en_US)" in event.rejection.reason  # what the agent can do instead
    # Kim writes again: the window opens again from that message.
    routing.at(written + timedelta(hours=30)).message(
        whatsapp("in2", written=written + timedelta(hours=30))
    )
    again = routing.at(written + timedelta(hours=40)).command(reply(case.id, "c3"))
    assert len(outbound(again)) == 1


def test_outside_the_window_an_approved_template_goes_out_unsigned() -> None:
    routing = Routing(CARE)
    case = open_case(routing, whatsapp("in1", written=T0))
    emitted = routing.at(T0 + timedelta(hours=30)).command(
        reply(case.id, "c1", text="", template=TEMPLATE)
    )
    [sent] = outbound(emitted)
    assert sent.template == TEMPLATE
    assert sent.text == ""  # the platform fills in the approved body; nothing to sign
    stored = routing.case(case.id).messages[-1]
    assert stored.text == "[template order_update (en_US)] A-1042, Thursday"


def test_template_rules_unknown_wrong_channel_or_with_text() -> None:
    routing = Routing(CARE)
    case = open_case(routing, whatsapp("in1", written=T0))
    late = routing.at(T0 + timedelta(hours=30))
    unknown = commands_pb2.MessageTemplate(name="order_update", language="de")
    assert rejection(late.command(reply(case.id, "c1", text="", template=unknown))) == (
        "unknown_template",
        "template",
    )
    both = late.command(reply(case.id, "c2", text="Hi!", template=TEMPLATE))
    assert rejection(both) == ("template_with_text", "text")
    mention = open_case(routing, x_mention("1850000001"))
    on_x = routing.command(reply(mention.id, "c3", text="", template=TEMPLATE))
    assert rejection(on_x) == ("template_not_supported", "template")
    nothing = routing.command(reply(mention.id, "c4", text=""))
    assert rejection(nothing) == ("reply_empty", "text")


def test_a_brand_without_templates_is_told_so_when_the_window_is_closed() -> None:
    routing = Routing(CARE)
    message = whatsapp("in1", written=T0)
    message.message.brand = "globex"
    case = open_case(routing, message)
    closed = routing.at(T0 + timedelta(days=2)).command(reply(case.id, "c1"))
    [event] = case_events(closed)
    assert event.rejection.code == "whatsapp_window_closed"
    assert "no approved templates" in event.rejection.reason
    assert "48 hours" in event.rejection.reason


# -- deliveries --------------------------------------------------------------------------------


def replied(routing: Routing) -> tuple[case_pb2.Case, str]:
    case = open_case(routing, whatsapp("in1", written=T0))
    routing.at(T0 + timedelta(minutes=5)).command(reply(case.id, "reply-1"))
    return routing.case(case.id), "reply-1"


def report(
    case_id: str,
    reply_id: str,
    status: delivery_pb2.DeliveryStatus.ValueType,
    minutes: int,
    *,
    platform_message_id: str = "",
    reason: str = "",
    error_code: str = "",
) -> delivery_pb2.ReplyDelivery:
    return delivery_event(
        reply_id=reply_id,
        case_id=case_id,
        channel=message_pb2.CHANNEL_WHATSAPP,
        status=status,
        occurred_at=T0 + timedelta(minutes=minutes),
        platform_message_id=platform_message_id,
        reason=reason,
        error_code=error_code,
    )


WAMID = "wamid.HBgLMzE2MTIzNDU2NzgVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"


def test_deliveries_move_the_reply_on_once_each_and_show_on_the_case() -> None:
    routing = Routing(CARE)
    case, reply_id = replied(routing)
    sent = report(case.id, reply_id, SENT, 6, platform_message_id=WAMID)
    [event] = case_events(routing.delivery(sent))
    assert event.type == case_pb2.CASE_EVENT_TYPE_REPLY_DELIVERY
    assert event.cause_id == sent.event_id
    assert event.case.version == case.version + 1
    assert event.case.status == case.status  # a delivery is news, not a change of state
    assert routing.delivery(sent) == []  # the same report again
    delivered = report(case.id, reply_id, DELIVERED, 7, platform_message_id=WAMID)
    read = report(case.id, reply_id, READ, 9, platform_message_id=WAMID)
    assert len(case_events(routing.delivery(delivered))) == 1
    assert len(case_events(routing.delivery(read))) == 1
    view = case_message_json(routing.case(case.id).messages[-1])
    assert view["delivery"] == {
        "status": "read",
        "platform_message_id": WAMID,
        "reason": None,
        "error_code": None,
        "updated_at": "2026-11-23T09:09:00.000Z",
    }


def test_statuses_out_of_order_end_at_the_furthest_and_late_ones_change_nothing() -> None:
    routing = Routing(CARE)
    case, reply_id = replied(routing)
    # WhatsApp posted `read` before `delivered`, and our own `sent` arrived last.
    read = report(case.id, reply_id, READ, 9, platform_message_id=WAMID)
    assert len(case_events(routing.delivery(read))) == 1
    version = routing.case(case.id).version
    assert (
        routing.delivery(report(case.id, reply_id, DELIVERED, 7, platform_message_id=WAMID)) == []
    )
    assert routing.delivery(report(case.id, reply_id, SENT, 6, platform_message_id=WAMID)) == []
    after = routing.case(case.id)
    assert after.version == version
    assert after.messages[-1].delivery.status == READ


def test_a_failed_reply_is_shown_with_the_platforms_reason_and_the_case_keeps_its_status() -> None:
    routing = Routing(CARE)
    case, reply_id = replied(routing)
    routing.delivery(report(case.id, reply_id, SENT, 6, platform_message_id=WAMID))
    failed = report(
        case.id,
        reply_id,
        FAILED,
        8,
        platform_message_id=WAMID,
        reason="Re-engagement message: more than 24 hours have passed since the customer "
        "last replied to this number.",
        error_code="131047",
    )
    [event] = case_events(routing.delivery(failed))
    assert event.type == case_pb2.CASE_EVENT_TYPE_REPLY_FAILED
    assert event.case.status == case_pb2.CASE_STATUS_WAITING_ON_CUSTOMER
    assert event.case.assignee == case.assignee
    view = case_message_json(event.case.messages[-1])["delivery"]
    assert (view["status"], view["error_code"]) == ("failed", "131047")
    assert view["reason"].startswith("Re-engagement message")
    assert view["platform_message_id"] == WAMID
    # Nothing after the failure undoes it.
    assert routing.delivery(report(case.id, reply_id, READ, 9, platform_message_id=WAMID)) == []
    assert routing.delivery(failed) == []


def test_reports_about_unknown_cases_replies_or_customer_messages_change_nothing() -> None:
    routing = Routing(CARE)
    case, _ = replied(routing)
    inbound_id = case.messages[0].message_id
    for strange in (
        report("no-such-case", "reply-1", SENT, 6),
        report(case.id, "no-such-reply", SENT, 6),
        report(case.id, inbound_id, SENT, 6),  # a customer's message is not a reply
    ):
        assert routing.book_of(case.id).on_delivery(strange, T0) == []
    assert routing.case(case.id).version == case.version


def test_a_rebuilt_book_applies_no_delivery_twice() -> None:
    routing = Routing(CARE)
    case, reply_id = replied(routing)
    delivered = report(case.id, reply_id, DELIVERED, 7, platform_message_id=WAMID)
    routing.delivery(delivered)
    rebuilt = CaseBook(CARE)
    for effect in routing.published:
        if effect.topic == Topic.CASES:
            assert isinstance(effect.message, case_pb2.CaseEvent)
            rebuilt.restore(effect.message)
    assert rebuilt.cases[case.id] == routing.case(case.id)
    assert rebuilt.on_delivery(delivered, T0) == []
    read = report(case.id, reply_id, READ, 9, platform_message_id=WAMID)
    assert len(case_events(rebuilt.on_delivery(read, T0))) == 1


def test_a_resolved_case_still_learns_what_became_of_its_reply() -> None:
    routing = Routing(CARE)
    case, reply_id = replied(routing)
    routing.command(resolve(case.id, "r1"))
    [event] = case_events(routing.delivery(report(case.id, reply_id, DELIVERED, 7)))
    assert event.type == case_pb2.CASE_EVENT_TYPE_REPLY_DELIVERY
    assert event.case.status == case_pb2.CASE_STATUS_RESOLVED


# -- the same rules again before sending ---------------------------------------------------------


def test_the_connector_rechecks_the_reply_routing_emitted_with_the_same_rules() -> None:
    routing = Routing(CARE)
    case = open_case(routing, whatsapp("in1", written=T0))
    [free] = outbound(routing.at(T0 + timedelta(hours=23)).command(reply(case.id, "c1")))
    brand = CARE.brand(free.brand)
    check_outbound(free, brand, T0 + timedelta(hours=23, minutes=30))  # still open: no error
    with pytest.raises(CommandRejectedError) as closed:
        check_outbound(free, brand, T0 + timedelta(hours=24, minutes=1))  # queued too long
    assert (closed.value.code, closed.value.field) == ("whatsapp_window_closed", "text")
    late = routing.at(T0 + timedelta(hours=30))
    [templated] = outbound(late.command(reply(case.id, "c2", text="", template=TEMPLATE)))
    check_outbound(templated, brand, T0 + timedelta(days=5))  # a template has no window
