"""Our own webhook format for sources without a platform of their own: a forum, a blog, a
review site, a mailbox bridge (`POST /v1/channels/generic/{source}`).

The body is one message, or `{"messages": [...]}` with 1 to 500 of them; each message is
exactly what `POST /v1/messages` takes, minus `channel`: the source's configured channel
is used (an item's own `channel` is ignored, so a sender cannot file its posts under X),
and the brand is the one the source belongs to.

The author may say more than who wrote on the source, when the source knows it -- a
complaint form asks for an e-mail address and a phone number, a CRM-backed portal knows
the customer's id and worth:

    "author": {"id": "form-77", "name": "Jan de Vries",
               "email": "jan@example.nl", "phone": "+31 6 1234 5678",
               "crm_id": "KL-4711", "customer_value": 1200.0}

`email`, `phone` and `crm_id` are how routing links this message to the same customer's
cases on other channels (scenario 6: a tweet, a phone note and a complaint form become one
case); `customer_value` (>= 0, in the brand's currency) weighs in the case's priority.
They are checked here as routing will read them (`core.domain.identities`): an e-mail
address must be one, a phone number needs 7 to 15 digits after its country code (write
`+31 6 1234 5678` or `0031 6 ...`; a national `06 1234 5678` is taken but only links to
the same number written nationally); a wrong one refuses the body naming
`author.email`, `author.phone`, ...

Unlike `POST /v1/messages:batch`, one invalid message refuses the whole webhook (422 naming
`messages.3.author.id`): the sender signs and re-sends whole bodies, so it fixes its payload
and re-sends rather than tracking which items of a batch were taken.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from socialcare.channels.parsed import ParsedWebhook, PayloadError
from socialcare.channels.payload import join
from socialcare.core.domain.identities import CRM, EMAIL, PHONE, normalise
from socialcare.ingestion.models import MAX_BATCH, MessageCreate


def parse_generic(
    body: Mapping[str, Any], *, brand: str, source: str, channel: str
) -> ParsedWebhook:
    """The messages of one generic-source webhook body, all of them valid or none.

    Nothing is ever skipped: the sender chose what to send. Each message's `account_id` is
    the source's slug: an agent's reply goes back through the same source (its
    `reply_url`). Raises `PayloadError` naming the field of the first invalid message.
    """
    if not isinstance(body, Mapping):
        raise PayloadError("body", "must be a JSON object")
    if "messages" in body:
        items = body["messages"]
        if not isinstance(items, list):
            raise PayloadError("messages", "must be a list of messages")
        if not items:
            raise PayloadError("messages", "must hold at least one message")
        if len(items) > MAX_BATCH:
            raise PayloadError("messages", f"at most {MAX_BATCH} messages per webhook")
        located = [(join("messages", index), item) for index, item in enumerate(items)]
    else:
        located = [("", body)]
    return ParsedWebhook(
        messages=[
            _message(item, path, brand=brand, channel=channel, source=source)
            for path, item in located
        ]
    )


def _message(item: object, path: str, *, brand: str, channel: str, source: str) -> MessageCreate:
    if not isinstance(item, Mapping):
        raise PayloadError(path or "body", "must be a JSON object")
    data = {**item, "channel": channel, "brand": brand, "account_id": source}
    try:
        message = MessageCreate.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        raise PayloadError(join(path, field) if field else path or "body", error["msg"]) from None
    _check_identities(message, path)
    return message


def _check_identities(message: MessageCreate, path: str) -> None:
    """The author's e-mail, phone and CRM id as routing links on them: a value routing
    could not read is the sender's to fix, not a link silently lost."""
    for name, kind in (("email", EMAIL), ("phone", PHONE), ("crm_id", CRM)):
        value = getattr(message.author, name)
        if value is None:
            continue
        try:
            normalise(kind, value)
        except ValueError as exc:
            raise PayloadError(join(path, f"author.{name}"), str(exc)) from None
