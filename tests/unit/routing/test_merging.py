"""Merging one customer's cases across channels, through the case books and the identity
linker (scenario 6: a customer asks on X, calls -- a phone note -- and files a complaint
form; one case shows all of them).

`Linked` plays the bus beyond the harness: agent commands routing issues to itself (merge,
absorb, forward) go to the book of their case's partition, identity claims to the linker,
the linker's merges back to the books -- until nothing is left in flight.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta

from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.identities import identity_key
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit
from socialcare.routing.linker import LINKER_ISSUER, Linker
from socialcare.v1 import case_pb2, commands_pb2, message_pb2, routing_pb2
from tests.unit.factories import T0, enriched
from tests.unit.routing.harness import Routing, case_events, reply, resolve

CARE = CareConfig.model_validate(
    {
        # Its customers' national numbers ("06 1234 5678") are Dutch.
        "brands": [{"name": "telco", "phone_country": "31"}],
        "sla_policies": [{"name": "nl-4h", "languages": ["*"], "first_response": "4h"}],
        "queues": [{"name": "care", "languages": ["*"]}],
        "agents": [
            {"id": "sanne", "name": "Sanne", "languages": ["nl", "en"], "capacity": 5},
            {"id": "daan", "name": "Daan", "languages": ["nl"], "capacity": 5},
        ],
    }
)
PHONE = "+31 6 1234 5678"


class Linked:
    """Routing over several partitions with the identity linker, delivering routing's own
    commands and claims in order until the system is quiet."""

    def __init__(self, partitions: int = 4) -> None:
        self.routing = Routing(CARE, partitions)
        self.linker = Linker()
        self.commands: list[commands_pb2.AgentCommand] = []
        self.claims: list[routing_pb2.IdentityClaim] = []

    def message(self, message: message_pb2.EnrichedMessage) -> list[Emit]:
        return self.settle(self.routing.message(message))

    def command(self, command: commands_pb2.AgentCommand) -> list[Emit]:
        return self.settle(self.routing.command(command))

    def settle(self, effects: Sequence[Emit]) -> list[Emit]:
        produced = list(effects)
        pending = deque(produced)
        while pending:
            effect = pending.popleft()
            if effect.topic == Topic.COMMANDS:
                assert isinstance(effect.message, commands_pb2.AgentCommand)
                self.commands.append(effect.message)
                more = self.routing.command(effect.message)
            elif effect.topic == Topic.IDENTITY_CLAIMS:
                assert isinstance(effect.message, routing_pb2.IdentityClaim)
                self.claims.append(effect.message)
                more = self.routing._publish(self.linker.on_claim(effect.message, self.now))
            else:
                continue
            produced += more
            pending.extend(more)
        return produced

    @property
    def now(self) -> datetime:
        return self.routing.now

    def at(self, delta: timedelta) -> Linked:
        self.routing.at(T0 + delta)
        return self

    def case(self, case_id: str) -> case_pb2.Case:
        return self.routing.case(case_id)

    def case_of(self, message: message_pb2.EnrichedMessage) -> case_pb2.Case:
        for book in self.routing.books:
            for case in book.cases.values():
                wanted = message.message.message_id
                if not case.merged_into and any(m.message_id == wanted for m in case.messages):
                    return case
        raise AssertionError(f"no live case has message {message.message.message_id}")


def tweet(
    external_id: str, minutes: int, *, author: str = "42", text: str = ""
) -> message_pb2.EnrichedMessage:
    message = enriched(
        external_id,
        author=author,
        text=text or "Al 8 dagen geen internet en niemand reageert",
        received=T0 + timedelta(minutes=minutes),
    )
    message.message.kind = message_pb2.MESSAGE_KIND_MENTION
    return message


def x_dm(
    external_id: str, minutes: int, text: str, *, author: str = "42"
) -> message_pb2.EnrichedMessage:
    message = tweet(external_id, minutes, author=author, text=text)
    message.message.kind = message_pb2.MESSAGE_KIND_DIRECT_MESSAGE
    return message


def generic(
    external_id: str,
    minutes: int,
    *,
    author: str,
    text: str,
    source: str = "klachten",
    phone: str = "",
    email: str = "",
    crm_id: str = "",
) -> message_pb2.EnrichedMessage:
    """A phone note or a complaint form, posted by an integration on the generic channel."""
    message = enriched(
        external_id,
        author=author,
        text=text,
        channel=message_pb2.CHANNEL_GENERIC,
        received=T0 + timedelta(minutes=minutes),
    )
    message.message.kind = message_pb2.MESSAGE_KIND_POST
    message.message.account_id = source
    author_fields = message.message.author
    author_fields.phone, author_fields.email, author_fields.crm_id = phone, email, crm_id
    return message


def merge(
    case_id: str, into: str, command_id: str, agent: str = "sanne"
) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id,
        case_id=case_id,
        merge=commands_pb2.MergeCase(agent=agent, into_case_id=into, reason="same customer"),
    )


def link(case_id: str, kind: str, value: str, command_id: str) -> commands_pb2.AgentCommand:
    return commands_pb2.AgentCommand(
        command_id=command_id,
        case_id=case_id,
        link_identity=commands_pb2.LinkIdentity(agent="sanne", kind=kind, value=value),
    )


def scenario_6(linked: Linked) -> tuple[case_pb2.Case, list[message_pb2.EnrichedMessage]]:
    """A tweet; a DM with the e-mail address the agent asked for; a phone note (the call
    system states the caller's number with its country code, the agent the CRM id); a
    complaint form a day later (the address again, the number as people type it)."""
    contacts = [
        tweet("x-1", 0),
        x_dm("x-2", 5, "Mail me op jan@example.nl"),
        generic(
            "call-1",
            60,
            author="caller-4471",
            source="phone-notes",
            text="Klant belde: storing sinds 8 dagen, wil teruggebeld worden",
            phone=PHONE,
            crm_id="KL-4711",
        ),
        generic(
            "form-1",
            24 * 60,
            author="form-77",
            text="Klacht: 8 dagen geen antwoord op X of telefonisch",
            email="Jan@Example.nl",
            phone="06-12345678",
        ),
    ]
    linked.message(contacts[0])
    linked.at(timedelta(minutes=5)).message(contacts[1])
    first = linked.case_of(contacts[0])
    # The agent on the phone links the number the customer gave, as they said it.
    linked.at(timedelta(minutes=30)).command(link(first.id, "phone", "06 1234 5678", "link-1"))
    linked.at(timedelta(minutes=60)).message(contacts[2])
    linked.at(timedelta(days=1)).message(contacts[3])
    return linked.case(first.id), contacts


def test_scenario_6_one_case_shows_x_the_phone_note_and_the_complaint_form() -> None:
    linked = Linked()
    case, contacts = scenario_6(linked)

    inbound = [m.message_id for m in case.messages if m.direction == case_pb2.DIRECTION_INBOUND]
    assert inbound == [contact.message.message_id for contact in contacts]
    keys = {identity_key(i) for i in case.identities}
    assert {
        "x:42",
        "email:jan@example.nl",
        "phone:+31612345678",  # the agent, the call system and the form wrote it 3 ways
        "crm:KL-4711",
        "generic:klachten/form-77",
        "generic:phone-notes/caller-4471",
    } <= keys
    assert case.status != case_pb2.CASE_STATUS_CLOSED
    assert len(case.merged_from) == 2
    for merged_id in case.merged_from:
        merged = linked.case(merged_id)
        assert (merged.status, merged.merged_into) == (case_pb2.CASE_STATUS_CLOSED, case.id)
    times = [m.created_at.ToSeconds() for m in case.messages]
    assert times == sorted(times)
    # The linker merged each newer case into the X case, once each.
    merges = [c for c in linked.commands if c.WhichOneof("action") == "merge"]
    assert [(c.case_id, c.merge.into_case_id, c.issued_by) for c in merges] == [
        (merged_id, case.id, LINKER_ISSUER) for merged_id in case.merged_from
    ]


def test_the_phone_note_joins_when_its_number_is_written_internationally() -> None:
    linked = Linked()
    linked.message(x_dm("x-1", 0, f"Mijn nummer: {PHONE}"))
    call = generic(
        "call-1",
        60,
        author="caller-1",
        source="phone-notes",
        text="Klant belde",
        phone="+31612345678",
    )
    linked.at(timedelta(hours=1)).message(call)
    case = linked.case_of(call)
    assert len(case.merged_from) == 1
    assert [m.message_id for m in case.messages if m.direction == case_pb2.DIRECTION_INBOUND] == [
        enriched("x-1").message.message_id,
        call.message.message_id,
    ]


def test_the_merged_case_closes_cancels_its_clocks_and_releases_its_owner() -> None:
    linked = Linked()
    linked.message(x_dm("x-1", 0, "mail me: jan@example.nl"))
    form = generic("form-1", 90, author="form-77", text="Klacht", email="jan@example.nl")
    effects = linked.at(timedelta(minutes=90)).message(form)
    merged = next(
        e.case
        for e in case_events(effects)
        if e.type == case_pb2.CASE_EVENT_TYPE_MERGED and e.case.merged_into
    )
    assert merged.status == case_pb2.CASE_STATUS_CLOSED
    assert merged.HasField("closed_at")
    assert merged.sla.HasField("stopped_at")
    # Its running clock measured nothing: cancelled, neither met nor breached, no answer.
    assert merged.sla.state == case_pb2.SLA_STATE_CANCELLED
    assert not merged.sla.HasField("first_response_at")
    survivor = linked.case_of(form)
    assert survivor.id == merged.merged_into
    assert survivor.sla.state == case_pb2.SLA_STATE_RUNNING  # the customer's real wait
    releases = [
        e.message
        for e in effects
        if e.topic == Topic.ASSIGNMENT_REQUESTS
        and isinstance(e.message, routing_pb2.AssignmentRequest)
        and e.message.kind == routing_pb2.ASSIGNMENT_REQUEST_KIND_RELEASE
    ]
    assert [r.case_id for r in releases] == [merged.id]
    closed_claims = [c for c in linked.claims if c.case_id == merged.id and c.closed]
    assert len(closed_claims) == 1


def test_later_messages_of_the_merged_customer_are_forwarded_once() -> None:
    linked = Linked()
    first = x_dm("x-1", 0, "mail me: jan@example.nl")
    linked.message(first)
    linked.at(timedelta(hours=1)).message(
        generic("form-1", 60, author="form-77", text="Klacht", email="jan@example.nl")
    )
    survivor = linked.case_of(first)
    again = generic("form-2", 120, author="form-77", text="Nog steeds niets gehoord!")
    linked.at(timedelta(hours=2)).message(again)
    survivor = linked.case(survivor.id)
    assert survivor.messages[-1].message_id == again.message.message_id
    forwards = [c for c in linked.commands if c.WhichOneof("action") == "forward"]
    assert len(forwards) == 1
    # The same message delivered again to its book: forwarded again, applied once.
    version = survivor.version
    linked.message(again)
    assert linked.case(survivor.id).version == version


def test_an_agent_merges_two_cases_and_the_absorb_is_applied_once() -> None:
    linked = Linked()
    a = tweet("x-1", 0, author="1")
    b = tweet("x-2", 10, author="2")
    linked.message(a)
    linked.at(timedelta(minutes=10)).message(b)
    older, newer = linked.case_of(a), linked.case_of(b)
    linked.at(timedelta(minutes=20)).command(merge(older.id, newer.id, "m-1"))
    survivor = linked.case(newer.id)
    assert survivor.merged_from == [older.id]
    assert [m.message_id for m in survivor.messages][:2] == [
        a.message.message_id,
        b.message.message_id,
    ]
    assert linked.case(older.id).merged_into == newer.id
    # Redelivered, the absorb changes nothing.
    absorb = next(c for c in linked.commands if c.WhichOneof("action") == "absorb")
    assert linked.routing.command(absorb) == []
    assert linked.routing.command(merge(older.id, newer.id, "m-1")) == []


def test_a_merge_into_itself_is_refused_visibly() -> None:
    linked = Linked()
    a = tweet("x-1", 0)
    linked.message(a)
    case = linked.case_of(a)
    (event,) = case_events(linked.command(merge(case.id, case.id, "m-1")))
    assert event.type == case_pb2.CASE_EVENT_TYPE_COMMAND_REJECTED
    assert event.rejection.field == "into_case_id"


def test_a_linked_identity_is_shown_and_claimed() -> None:
    linked = Linked()
    a = tweet("x-1", 0)
    linked.message(a)
    case = linked.case_of(a)
    effects = linked.command(link(case.id, "phone", "0031 6 12345678", "l-1"))
    (event,) = [e for e in case_events(effects) if e.type != case_pb2.CASE_EVENT_TYPE_MERGED]
    assert event.type == case_pb2.CASE_EVENT_TYPE_IDENTITY_LINKED
    linked_identity = event.case.identities[-1]
    assert (linked_identity.kind, linked_identity.value, linked_identity.source) == (
        "phone",
        "+31612345678",
        "l-1",
    )
    assert linked.linker.holder("telco", "phone:+31612345678") == case.id
    refused = case_events(linked.command(link(case.id, "phone", "bel me", "l-2")))
    assert [(e.type, e.rejection.field) for e in refused] == [
        (case_pb2.CASE_EVENT_TYPE_COMMAND_REJECTED, "value")
    ]


def test_a_resolved_case_absorbing_a_new_contact_opens_again_for_its_owner() -> None:
    linked = Linked()
    a = x_dm("x-1", 0, "Geen internet. Mail: jan@example.nl")
    linked.message(a)
    case = linked.case_of(a)
    owner = case.assignee
    linked.at(timedelta(minutes=10)).command(resolve(case.id, "r-1", agent=owner))
    linked.at(timedelta(minutes=20)).message(x_dm("x-2", 20, "Ja, het werkt weer, bedankt"))
    assert linked.case(case.id).status == case_pb2.CASE_STATUS_RESOLVED
    # Within the reopen window the customer complains by form: the resolved case (it still
    # holds the address) takes the form's case in and opens again, its owner asked first.
    form = generic("form-1", 60, author="form-77", text="Klacht", email="jan@example.nl")
    effects = linked.at(timedelta(hours=1)).message(form)
    survivor = linked.case(case.id)
    assert survivor.status in (case_pb2.CASE_STATUS_NEW, case_pb2.CASE_STATUS_ASSIGNED)
    assert survivor.assignment_epoch == 2
    assert form.message.message_id in [m.message_id for m in survivor.messages]
    queued = [
        e.message
        for e in effects
        if isinstance(e.message, routing_pb2.AssignmentRequest)
        and e.message.case_id == case.id
        and e.message.kind == routing_pb2.ASSIGNMENT_REQUEST_KIND_QUEUE
    ]
    assert [q.agent for q in queued] == [owner]


def test_public_posts_do_not_link_strangers_through_numbers_they_quote() -> None:
    linked = Linked()
    linked.message(tweet("x-1", 0, author="1", text="Bel de helpdesk op +31 20 123 4567"))
    linked.message(tweet("x-2", 1, author="2", text="Helpdesk +31 20 123 4567 neemt niet op"))
    assert [c for c in linked.commands if c.WhichOneof("action") == "merge"] == []


def test_a_survivor_merged_away_itself_passes_absorbs_and_forwards_on() -> None:
    linked = Linked()
    a, b, c = (tweet(f"x-{n}", n, author=str(n)) for n in (1, 2, 3))
    for n, message in enumerate((a, b, c)):
        linked.at(timedelta(minutes=n)).message(message)
    case_a, case_b, case_c = (linked.case_of(m) for m in (a, b, c))
    linked.command(merge(case_b.id, case_c.id, "m-1"))
    linked.command(merge(case_c.id, case_a.id, "m-2"))
    # b's customer writes again: b's book forwards to c, c's to a.
    later = tweet("x-9", 30, author="2", text="En nu?")
    linked.at(timedelta(minutes=30)).message(later)
    survivor = linked.case(case_a.id)
    assert later.message.message_id in [m.message_id for m in survivor.messages]
    assert b.message.message_id in [m.message_id for m in survivor.messages]
    assert survivor.merged_from == [case_c.id]
    # c has absorbed b: b again changes nothing; another case sent to c goes on to a.
    again = commands_pb2.AgentCommand(
        command_id="absorb-again", case_id=case_c.id, absorb=commands_pb2.AbsorbCase(source=case_b)
    )
    assert linked.routing.command(again) == []
    d = tweet("x-4", 40, author="4")
    linked.message(d)
    stray = commands_pb2.AgentCommand(
        command_id="absorb-late",
        case_id=case_c.id,
        absorb=commands_pb2.AbsorbCase(source=linked.case_of(d)),
    )
    # c records that it passed the case on (once) and sends it on to a.
    (onward,) = [e for e in linked.routing.command(stray) if e.topic == Topic.COMMANDS]
    assert isinstance(onward.message, commands_pb2.AgentCommand)
    assert (onward.message.case_id, onward.message.absorb.source.id) == (
        case_a.id,
        linked.case_of(d).id,
    )


def test_books_and_linker_rebuilt_from_their_changelogs_link_the_same() -> None:
    linked = Linked()
    case, _ = scenario_6(linked)
    linked.routing.restart()
    rebuilt = Linker()
    for record in linked.routing.changelog(Topic.IDENTITIES_CHANGELOG):
        assert isinstance(record, routing_pb2.IdentityOwner)
        rebuilt.restore(record)
    assert rebuilt.owners == linked.linker.owners
    linked.linker = rebuilt
    assert linked.case(case.id) == case
    # A new WhatsApp contact of the customer after the restart joins the same case.
    whatsapp = enriched(
        "wa-1",
        author="31612345678",
        channel=message_pb2.CHANNEL_WHATSAPP,
        text="Hallo, nog steeds geen internet",
        received=T0 + timedelta(days=2),
    )
    linked.at(timedelta(days=2)).message(whatsapp)
    assert whatsapp.message.message_id in [m.message_id for m in linked.case(case.id).messages]


def test_two_cases_merged_into_each_other_at_once_end_as_the_older_one() -> None:
    linked = Linked()
    a, b = tweet("x-1", 0, author="1"), tweet("x-2", 10, author="2")
    linked.message(a)
    linked.at(timedelta(minutes=10)).message(b)
    older, newer = linked.case_of(a), linked.case_of(b)
    # Both merges are applied before either absorb arrives.
    first = linked.routing.command(merge(older.id, newer.id, "m-1"))
    second = linked.routing.command(merge(newer.id, older.id, "m-2", agent="daan"))
    linked.settle([*first, *second])
    survivor, merged = linked.case(older.id), linked.case(newer.id)
    assert survivor.status != case_pb2.CASE_STATUS_CLOSED
    assert (survivor.merged_into, list(survivor.merged_from)) == ("", [newer.id])
    assert (merged.status, merged.merged_into) == (case_pb2.CASE_STATUS_CLOSED, older.id)
    inbound = [m.message_id for m in survivor.messages if m.direction == case_pb2.DIRECTION_INBOUND]
    assert inbound == [a.message.message_id, b.message.message_id]
    # Both customers' next messages reach the survivor, once.
    for n, author in enumerate(("1", "2")):
        later = tweet(f"x-later-{author}", 60 + n, author=author, text="En nu?")
        linked.at(timedelta(minutes=60 + n)).message(later)
        assert later.message.message_id in [m.message_id for m in linked.case(older.id).messages]
    # Merging back into a case it absorbed is refused.
    (refused,) = case_events(linked.command(merge(older.id, newer.id, "m-3")))
    assert refused.rejection.code == "merge_into_self"


def test_a_forwarded_message_for_a_survivor_closed_for_good_opens_a_follow_up() -> None:
    linked = Linked()
    first = x_dm("x-1", 0, "mail me: jan@example.nl")
    linked.message(first)
    linked.at(timedelta(hours=1)).message(
        generic("form-1", 60, author="form-77", text="Klacht", email="jan@example.nl")
    )
    survivor = linked.case_of(first)
    book = linked.routing.book_of(survivor.id)
    # Closed for good (as the book's tick closes a resolved case past its reopen window).
    closing = book._close(book.cases[survivor.id], "closed-1", linked.now)
    linked.settle(linked.routing._publish(book._drain(closing)))
    assert linked.linker.holder("telco", "email:jan@example.nl") is None
    again = generic("form-2", 24 * 60, author="form-77", text="Weer geen internet")
    linked.at(timedelta(days=1)).message(again)
    follow_up = linked.case_of(again)
    assert follow_up.id != survivor.id
    assert follow_up.previous_case_id == survivor.id
    # The customer's next message joins the follow-up, not another new case.
    third = generic("form-3", 24 * 60 + 5, author="form-77", text="Hallo?")
    linked.at(timedelta(days=1, minutes=5)).message(third)
    assert linked.case_of(third).id == follow_up.id


def test_the_survivor_takes_the_open_questions_each_once() -> None:
    linked = Linked()
    first = x_dm("x-1", 0, "Geen internet. Mail: jan@example.nl")
    first.intents.add(name="outage", question="Geen internet.", confidence=0.9)
    linked.message(first)
    form = generic(
        "form-1", 60, author="form-77", text="Storing en te hoge rekening", email="jan@example.nl"
    )
    form.intents.add(name="outage", question="Storing", confidence=0.8)
    form.intents.add(name="billing", question="te hoge rekening", confidence=0.8, product="fiber")
    linked.at(timedelta(hours=1)).message(form)
    survivor = linked.case_of(first)
    assert [(i.name, i.answered) for i in survivor.intents] == [
        ("outage", False),
        ("billing", False),
    ]
    assert survivor.product == "fiber"


def test_a_pending_has_this_been_solved_stands_when_another_contact_is_absorbed() -> None:
    linked = Linked()
    a = x_dm("x-1", 0, "Geen internet. Mail: jan@example.nl")
    linked.message(a)
    case = linked.case_of(a)
    linked.at(timedelta(minutes=10)).command(resolve(case.id, "r-1", agent=case.assignee))
    proposed = linked.case(case.id)
    assert proposed.resolution_check.outcome == case_pb2.RESOLUTION_OUTCOME_PENDING
    form = generic("form-1", 30, author="form-77", text="Klacht", email="jan@example.nl")
    linked.at(timedelta(minutes=30)).message(form)
    survivor = linked.case(case.id)
    assert form.message.message_id in [m.message_id for m in survivor.messages]
    assert survivor.status == case_pb2.CASE_STATUS_WAITING_ON_CUSTOMER
    assert survivor.resolution_check.outcome == case_pb2.RESOLUTION_OUTCOME_PENDING
    # Only an answer on the case decides it.
    linked.at(timedelta(minutes=40)).message(x_dm("x-2", 40, "Nee, nog steeds niets"))
    assert linked.case(case.id).resolution_check.outcome == case_pb2.RESOLUTION_OUTCOME_DECLINED


def test_a_closed_case_opened_again_by_a_merge_holds_its_identities_again() -> None:
    linked = Linked()
    a = tweet("x-1", 0, author="1")
    linked.message(a)
    older = linked.case_of(a)
    book = linked.routing.book_of(older.id)
    linked.settle(book._drain(book._close(book.cases[older.id], "closed-1", linked.now)))
    assert linked.linker.holder("telco", "x:1") is None
    # The customer writes again: a new case following the closed one, holding x:1.
    b = tweet("x-2", 10, author="1", text="Nog een vraag over hetzelfde")
    linked.at(timedelta(minutes=10)).message(b)
    newer = linked.case_of(b)
    assert newer.previous_case_id == older.id
    # An agent merges it into the closed case (the same matter): that one opens again and
    # holds the customer's identities, though the merged case brought none it lacked.
    linked.at(timedelta(minutes=20)).command(merge(newer.id, older.id, "m-1"))
    assert linked.case(older.id).status != case_pb2.CASE_STATUS_CLOSED
    assert linked.linker.holder("telco", "x:1") == older.id


def test_absorbed_messages_say_the_channel_they_came_on() -> None:
    linked = Linked()
    case, contacts = scenario_6(linked)
    channels = {m.message_id: m.channel for m in case.messages}
    tweet_id, dm_id, call_id, form_id = (c.message.message_id for c in contacts)
    # The survivor's own messages: its channel (stated, or unset meaning the case's).
    assert channels[tweet_id] in (message_pb2.CHANNEL_UNSPECIFIED, message_pb2.CHANNEL_X)
    assert channels[dm_id] in (message_pb2.CHANNEL_UNSPECIFIED, message_pb2.CHANNEL_X)
    assert channels[call_id] == channels[form_id] == message_pb2.CHANNEL_GENERIC


def test_a_reply_on_the_merged_case_answers_its_own_channels_latest_message() -> None:
    linked = Linked()
    case, contacts = scenario_6(linked)
    # The form (a generic message) came last; the reply still answers the X direct message.
    effects = linked.at(timedelta(days=1, minutes=10)).command(
        reply(case.id, "reply-1", agent=case.assignee, text="Sorry Jan, we bellen je vandaag.")
    )
    (outbound,) = [e.message for e in effects if e.topic == Topic.OUTBOUND]
    assert isinstance(outbound, commands_pb2.OutboundReply)
    dm = contacts[1].message
    assert (outbound.channel, outbound.in_reply_to, outbound.kind) == (
        message_pb2.CHANNEL_X,
        dm.external_id,
        message_pb2.MESSAGE_KIND_DIRECT_MESSAGE,
    )
    assert outbound.recipient_id == "42"


def test_cases_merged_into_each_other_in_several_steps_do_not_pass_commands_round_for_ever() -> (
    None
):
    """Two agents merge a into b and b into a at once, a third case is merged into a and
    its customer writes again meanwhile: every absorb and forward ends (each closed case
    passes each one on at most once), one case lives on with every message, and the later
    message reaches a live case."""
    linked = Linked(partitions=2)
    a, b, c = (tweet(f"x-{n}", n, author=str(n)) for n in (1, 2, 3))
    for n, message in enumerate((a, b, c)):
        linked.at(timedelta(minutes=n)).message(message)
    case_a, case_b, case_c = (linked.case_of(m) for m in (a, b, c))
    # All three merges are applied before any absorb arrives; a forward of c's customer's
    # next message and c's absorb reach a (merged into b, merged into a) first, and what
    # they send on is delivered before the crossed absorbs.
    crossed = [
        *linked.routing.command(merge(case_a.id, case_b.id, "m-1")),
        *linked.routing.command(merge(case_b.id, case_a.id, "m-2", agent="daan")),
    ]
    absorb_c = linked.routing.command(merge(case_c.id, case_a.id, "m-3"))
    later = tweet("x-9", 30, author="3", text="En nu?")
    forwarded = linked.at(timedelta(minutes=30)).routing.message(later)
    pending = deque([*forwarded, *absorb_c, *crossed])
    delivered = 0
    while pending:
        effect = pending.popleft()
        if effect.topic != Topic.COMMANDS:
            continue
        delivered += 1
        assert delivered < 100, "absorbs and forwards go round merged cases for ever"
        assert isinstance(effect.message, commands_pb2.AgentCommand)
        pending.extendleft(reversed(linked.routing.command(effect.message)))
    live = [
        case
        for book in linked.routing.books
        for case in book.cases.values()
        if case.status != case_pb2.CASE_STATUS_CLOSED
    ]
    assert live
    shown = {m.message_id for case in live for m in case.messages}
    for message in (a, b, c, later):
        assert message.message.message_id in shown
