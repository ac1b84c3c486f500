"""Reply deliveries: how a connector's report becomes the state a case shows.

Reports arrive out of order and more than once (WhatsApp may post `read` before
`delivered`, and re-posts webhooks; a connector may retry after a crash), so the state a
case shows is the furthest status reached, FAILED overriding all: applying the same report
twice, or an older one late, changes nothing.

A status webhook names only the platform's id of the reply, not our case. The connector
therefore hands the platform an opaque tag with the reply (WhatsApp's
`biz_opaque_callback_data`, echoed in every status webhook): `sc1:<case id>:<reply id>`.
"""

from __future__ import annotations

from datetime import datetime

from socialcare.core.clock import to_timestamp
from socialcare.core.events import derived_id
from socialcare.v1 import delivery_pb2, message_pb2

SENT = delivery_pb2.DELIVERY_STATUS_SENT
DELIVERED = delivery_pb2.DELIVERY_STATUS_DELIVERED
READ = delivery_pb2.DELIVERY_STATUS_READ
FAILED = delivery_pb2.DELIVERY_STATUS_FAILED

STATUS_NAMES: dict[delivery_pb2.DeliveryStatus.ValueType, str] = {
    SENT: "sent",
    DELIVERED: "delivered",
    READ: "read",
    FAILED: "failed",
}
STATUSES: dict[str, delivery_pb2.DeliveryStatus.ValueType] = {v: k for k, v in STATUS_NAMES.items()}
_RANK = {SENT: 1, DELIVERED: 2, READ: 3, FAILED: 4}
_TAG = "sc1"


def callback_data(case_id: str, reply_id: str) -> str:
    """The tag a connector sends with a reply so status webhooks lead back to it."""
    return f"{_TAG}:{case_id}:{reply_id}"


def parse_callback_data(value: str) -> tuple[str, str] | None:
    """`(case_id, reply_id)` from a tag `callback_data` made; None for anything else (a
    message another system sent from the same number)."""
    tag, _, rest = value.partition(":")
    case_id, _, reply_id = rest.partition(":")
    if tag != _TAG or not case_id or not reply_id:
        return None
    return case_id, reply_id


def delivery_event(
    *,
    reply_id: str,
    case_id: str,
    channel: message_pb2.Channel.ValueType,
    status: delivery_pb2.DeliveryStatus.ValueType,
    occurred_at: datetime,
    platform_message_id: str = "",
    reason: str = "",
    error_code: str = "",
    attempts: int = 0,
) -> delivery_pb2.ReplyDelivery:
    """A ReplyDelivery whose event id is the same however often the fact is reported."""
    return delivery_pb2.ReplyDelivery(
        event_id=derived_id("delivery", reply_id, str(int(status)), platform_message_id),
        reply_id=reply_id,
        case_id=case_id,
        channel=channel,
        status=status,
        platform_message_id=platform_message_id,
        reason=reason,
        error_code=error_code,
        attempts=attempts,
        occurred_at=to_timestamp(occurred_at),
    )


def advances(state: delivery_pb2.DeliveryState, report: delivery_pb2.ReplyDelivery) -> bool:
    """Whether `report` moves `state` on: a later status, or the first failure."""
    return _RANK.get(report.status, 0) > _RANK.get(state.status, 0)


def apply_report(state: delivery_pb2.DeliveryState, report: delivery_pb2.ReplyDelivery) -> None:
    """Move `state` to `report` (call only when `advances`); the platform id is kept from
    the first report that had one."""
    state.status = report.status
    if report.platform_message_id and not state.platform_message_id:
        state.platform_message_id = report.platform_message_id
    state.reason = report.reason
    state.error_code = report.error_code
    state.updated_at.CopyFrom(report.occurred_at)
