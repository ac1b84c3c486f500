"""A brand's VIP list (`Brand.vip`): references to customers who are VIPs whatever the CRM
says (a board member, a journalist, a customer the brand promised a personal line).

A reference names the customer the way a message does, written one way
(`identities.normalise`) so "X:@Jan_DV" in the file matches the handle "jan_dv" on a
message:
* `<channel>:<author id>`: the author's id on that channel (e.g. `x:1234567`,
  `whatsapp:31612345678`); stable across handle changes, so the safest reference;
* `<channel>:@<handle>`: the author's handle (case-insensitive);
* `email:<address>`, `phone:<+international number>`: the author's stated e-mail or phone
  (a WhatsApp author's id is their phone number);
* `crm:<id>`: the customer's CRM id (the author's, or the one the CRM lookup answered).
"""

from __future__ import annotations

from socialcare.core.domain import identities
from socialcare.core.domain.cases import CHANNELS, channel_name
from socialcare.v1 import message_pb2

__all__ = ["message_references", "vip_reference"]

_KINDS = f"email, phone, crm or a channel ({', '.join(CHANNELS)})"


def vip_reference(value: str) -> str:
    """`value` as the one string a message's references are compared with; ValueError
    naming what is wrong (unknown kind, an address that is not one, a national phone
    number)."""
    kind, colon, rest = value.strip().partition(":")
    kind = kind.strip().lower()
    rest = rest.strip()
    if not colon or not rest:
        raise ValueError(
            f"{value!r} is not a customer reference: write <kind>:<value>, kind {_KINDS}"
        )
    if kind in (identities.EMAIL, identities.CRM):
        return f"{kind}:{identities.normalise(kind, rest)}"
    if kind == identities.PHONE:
        number = identities.normalise(kind, rest)
        if not number.startswith("+"):
            raise ValueError(f"{value!r}: write the phone number with its country code (+31 6 ...)")
        return f"{kind}:{number}"
    if kind in CHANNELS:
        if rest.startswith("@"):
            return f"{kind}:@{identities.normalise(identities.HANDLE_PREFIX + kind, rest)}"
        return f"{kind}:{identities.normalise(kind, rest)}"
    raise ValueError(f"{value!r}: {kind!r} is not a reference kind: use {_KINDS}")


def message_references(
    message: message_pb2.SocialMessage, crm_id: str = "", calling_code: str | None = None
) -> set[str]:
    """Every reference that names the message's author (and `crm_id`, the CRM's id for them),
    written as `vip_reference` writes them. A stated e-mail or phone that is not one is
    left out; `calling_code` (the brand's `phone_country`) reads a national number."""
    author = message.author
    channel = channel_name(message.channel)
    found = {f"{channel}:{author.id}"}
    if author.handle:
        found.add(f"{channel}:@{author.handle.strip().removeprefix('@').lower()}")
    stated = [(identities.EMAIL, author.email), (identities.PHONE, author.phone)]
    if message.channel == message_pb2.CHANNEL_WHATSAPP:
        stated.append((identities.PHONE, author.id))
    if message.channel == message_pb2.CHANNEL_EMAIL:
        stated.append((identities.EMAIL, author.id))
    stated += [(identities.CRM, author.crm_id), (identities.CRM, crm_id)]
    for kind, value in stated:
        if not value:
            continue
        try:
            found.add(f"{kind}:{identities.normalise(kind, value, calling_code=calling_code)}")
        except ValueError:
            continue  # not an address or number: it names nobody
    return found
