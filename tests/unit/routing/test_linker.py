"""The identity linker: one holder per brand and identity; the newer case merges into the
older; closed cases free their identities; state rebuilt from the changelog is the same."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialcare.core.bus import TopicPartition
from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.clock import to_timestamp
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.core.events import InvalidRecordError
from socialcare.routing.linker import (
    LINKER_ISSUER,
    Linker,
    LinkerProcessor,
    merge_command_id,
    owner_key,
)
from socialcare.v1 import commands_pb2, routing_pb2
from tests.unit.factories import T0
from tests.unit.memory_log import MemoryLog


def claim(
    case_id: str,
    *identities: str,
    opened: int = 0,
    brand: str = "acme",
    closed: bool = False,
    version: int = 1,
) -> routing_pb2.IdentityClaim:
    return routing_pb2.IdentityClaim(
        claim_id=f"{case_id}-{version}",
        case_id=case_id,
        brand=brand,
        identities=list(identities),
        opened_at=to_timestamp(T0 + timedelta(minutes=opened)),
        closed=closed,
    )


def merges(effects: Sequence[Emit]) -> list[tuple[str, str]]:
    found = []
    for effect in effects:
        if effect.topic == Topic.COMMANDS:
            command = effect.message
            assert isinstance(command, commands_pb2.AgentCommand)
            assert command.WhichOneof("action") == "merge"
            assert command.issued_by == LINKER_ISSUER
            assert command.command_id == merge_command_id(
                command.case_id, command.merge.into_case_id
            )
            found.append((command.case_id, command.merge.into_case_id))
    return found


def owners(effects: Sequence[Emit]) -> list[routing_pb2.IdentityOwner]:
    found = []
    for effect in effects:
        if effect.topic == Topic.IDENTITIES_CHANGELOG:
            assert isinstance(effect.message, routing_pb2.IdentityOwner)
            found.append(effect.message)
    return found


def test_first_claim_holds_its_identities() -> None:
    linker = Linker()
    effects = linker.on_claim(claim("x-case", "x:42", "handle:x:jan"), T0)
    assert merges(effects) == []
    assert [(o.identity, o.case_id, o.released) for o in owners(effects)] == [
        ("acme/x:42", "x-case", False),
        ("acme/handle:x:jan", "x-case", False),
    ]
    assert linker.holder("acme", "x:42") == "x-case"
    # The same claim again (a redelivery) changes nothing.
    assert linker.on_claim(claim("x-case", "x:42", "handle:x:jan"), T0) == []


def test_scenario_6_the_newer_case_merges_into_the_older() -> None:
    linker = Linker()
    linker.on_claim(claim("x-case", "x:42", "phone:+31612345678", opened=0), T0)
    linker.on_claim(claim("form-case", "generic:form-7", "email:jan@example.nl", opened=30), T0)
    # The phone note names the number of the X customer and the form's e-mail address.
    effects = linker.on_claim(
        claim("call-case", "crm:4711", "phone:+31612345678", "email:jan@example.nl", opened=10),
        T0,
    )
    assert merges(effects) == [("call-case", "x-case"), ("form-case", "x-case")]
    for identity in ("crm:4711", "generic:form-7", "email:jan@example.nl", "x:42"):
        assert linker.holder("acme", identity) == "x-case"


def test_an_older_claimant_takes_over_the_newer_holder() -> None:
    linker = Linker()
    linker.on_claim(claim("new", "email:jan@example.nl", opened=20), T0)
    effects = linker.on_claim(claim("old", "x:42", "email:jan@example.nl", opened=5), T0)
    assert merges(effects) == [("new", "old")]
    assert linker.holder("acme", "email:jan@example.nl") == "old"


def test_equal_opening_times_are_ordered_by_id() -> None:
    linker = Linker()
    linker.on_claim(claim("b", "email:jan@example.nl"), T0)
    assert merges(linker.on_claim(claim("a", "email:jan@example.nl"), T0)) == [("b", "a")]


def test_brands_never_mix() -> None:
    linker = Linker()
    linker.on_claim(claim("acme-case", "email:jan@example.nl", brand="acme"), T0)
    effects = linker.on_claim(claim("other", "email:jan@example.nl", brand="globex"), T0)
    assert merges(effects) == []
    assert linker.holder("globex", "email:jan@example.nl") == "other"
    assert linker.holder("acme", "email:jan@example.nl") == "acme-case"


def test_a_merged_case_claiming_again_before_its_merge_joins_the_survivor() -> None:
    linker = Linker()
    linker.on_claim(claim("old", "x:42", opened=0), T0)
    linker.on_claim(claim("new", "whatsapp:316", "x:42", opened=5), T0)
    # The merged case's next message (not yet merged on its book) adds an address.
    effects = linker.on_claim(
        claim("new", "whatsapp:316", "x:42", "email:jan@example.nl", opened=5, version=2), T0
    )
    assert merges(effects) == [("new", "old")]  # the same command id: applied once
    assert linker.holder("acme", "email:jan@example.nl") == "old"


def test_a_closed_case_frees_what_it_still_holds() -> None:
    linker = Linker()
    linker.on_claim(claim("old", "x:42", opened=0), T0)
    linker.on_claim(claim("new", "x:42", "email:jan@example.nl", opened=5), T0)
    # The merged-away case closes: it holds nothing any more, nothing is released.
    assert linker.on_claim(claim("new", "x:42", closed=True, opened=5, version=3), T0) == []
    released = linker.on_claim(claim("old", closed=True, version=9), T0)
    assert sorted((o.identity, o.released) for o in owners(released)) == [
        ("acme/email:jan@example.nl", True),
        ("acme/x:42", True),
    ]
    assert linker.holder("acme", "x:42") is None
    # A later case of the customer holds them afresh, merging with nothing.
    effects = linker.on_claim(claim("later", "x:42", opened=60), T0)
    assert merges(effects) == []
    assert linker.holder("acme", "x:42") == "later"


def test_rebuilt_from_the_compacted_changelog_it_decides_the_same() -> None:
    linker = Linker()
    changelog: dict[str, routing_pb2.IdentityOwner] = {}
    for c in (
        claim("a", "x:1", "email:a@example.nl", opened=0),
        claim("b", "x:2", opened=1),
        claim("c", "x:3", "email:a@example.nl", opened=2),
        claim("b", closed=True, opened=1, version=2),
    ):
        for record in owners(linker.on_claim(c, T0)):
            changelog[record.identity] = record
    rebuilt = Linker()
    for record in changelog.values():
        rebuilt.restore(record)
    assert rebuilt.owners == linker.owners
    probe = claim("d", "x:3", "x:2", opened=3)
    assert merges(rebuilt.on_claim(probe, T0)) == merges(linker.on_claim(probe, T0))
    assert merges(linker.on_claim(probe, T0)) == [("d", "a")]


def test_a_claim_without_ids_is_refused() -> None:
    with pytest.raises(InvalidRecordError, match="claim_id"):
        Linker().on_claim(routing_pb2.IdentityClaim(case_id="a"), T0)


def test_owner_keys_carry_the_brand() -> None:
    assert owner_key("acme", "email:jan@example.nl") == "acme/email:jan@example.nl"


def test_the_processor_rebuilds_from_the_changelog_on_assignment(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path, default_partitions=1, sync="normal")
    try:
        producer = bus.producer("routing")
        records = MemoryLog(1)
        processor = LinkerProcessor(bus, lambda: T0)
        assert processor.topics == (Topic.IDENTITY_CLAIMS.value,)
        processor.prepare()
        claims = frozenset({TopicPartition(Topic.IDENTITY_CLAIMS.value, 0)})
        processor.assigned(claims)

        def process(c: routing_pb2.IdentityClaim) -> list[Emit]:
            effects = list(processor.process(records.record(Emit(Topic.IDENTITY_CLAIMS, c))))
            # What the loop does: the changelog records are published before the commit.
            publish_effects(
                producer,
                [e for e in effects if e.topic == Topic.IDENTITIES_CHANGELOG],
                source="routing",
            )
            producer.flush()
            return effects

        process(claim("old", "x:42", "email:jan@example.nl", opened=0))
        process(claim("gone", "x:7", opened=1))
        process(claim("gone", closed=True, opened=1, version=2))
        processor.revoked(claims)
        assert processor.linker is None
        with pytest.raises(RuntimeError, match="not built"):
            processor.process(records.record(Emit(Topic.IDENTITY_CLAIMS, claim("new", "x:42"))))

        processor.assigned(claims)  # rebuilt from routing.identities.changelog
        linker = processor.linker
        assert linker is not None
        assert linker.holder("acme", "x:42") == "old"
        assert linker.holder("acme", "x:7") is None
        effects = process(claim("new", "email:jan@example.nl", opened=9))
        assert merges(effects) == [("new", "old")]
    finally:
        bus.close()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=5),  # case
            st.sets(st.sampled_from(["x:1", "x:2", "email:a@b.nl", "phone:+31612345678"])),
        ),
        max_size=12,
    )
)
def test_every_customer_ends_in_one_case_the_oldest(
    sequence: list[tuple[int, set[str]]],
) -> None:
    """Whatever order claims come in, following each case's first merge leads every case
    of a connected group (cases sharing identities, directly or through others) to one
    case: the group's oldest. (A case merged twice keeps its first merge: routing skips
    the linker's merge of a closed case.)"""
    linker = Linker()
    first_merge: dict[str, str] = {}
    claimed: dict[str, set[str]] = {}
    for version, (number, identities) in enumerate(sequence):
        case_id = f"case-{number}"
        claimed.setdefault(case_id, set()).update(identities)
        effects = linker.on_claim(
            claim(case_id, *sorted(claimed[case_id]), opened=10 - number, version=version), T0
        )
        for source, into in merges(effects):
            first_merge.setdefault(source, into)

    def root(case_id: str) -> str:
        seen = set()
        while case_id in first_merge:
            assert case_id not in seen, "merges form a cycle"
            seen.add(case_id)
            case_id = first_merge[case_id]
        return case_id

    # Groups: cases joined through shared identities (union-find over the claims).
    group: dict[str, str] = {case_id: case_id for case_id in claimed}

    def find(case_id: str) -> str:
        while group[case_id] != case_id:
            case_id = group[case_id]
        return case_id

    for identity in {i for ids in claimed.values() for i in ids}:
        holders = sorted(c for c, ids in claimed.items() if identity in ids)
        for other in holders[1:]:
            group[find(other)] = find(holders[0])
    members: dict[str, list[str]] = {}
    for case_id in claimed:
        members.setdefault(find(case_id), []).append(case_id)
    for cases in members.values():
        oldest = max(cases)  # case-5 opened first (opened = 10 - number)
        assert {root(case_id) for case_id in cases} == {oldest}


def test_a_handle_taken_over_by_another_account_joins_nobody() -> None:
    linker = Linker()
    linker.on_claim(claim("jan-case", "x:42", "handle:x:jan"), T0)
    # @jan was given up by account 42 and taken by account 99.
    effects = linker.on_claim(claim("new-jan", "x:99", "handle:x:jan", opened=5), T0)
    assert merges(effects) == []
    assert linker.holder("acme", "handle:x:jan") == "jan-case"
    assert linker.holder("acme", "x:99") == "new-jan"
    # A handle an agent linked on a phone case (no X account there) does join.
    effects = linker.on_claim(claim("call", "phone:+31612345678", "handle:x:jan", opened=9), T0)
    assert merges(effects) == [("call", "jan-case")]
    # And a shared e-mail address joins different accounts: that is the person.
    linker.on_claim(claim("new-jan", "x:99", "email:jan@example.nl", opened=5, version=2), T0)
    effects = linker.on_claim(claim("form", "email:jan@example.nl", "x:42", opened=20), T0)
    assert sorted(merges(effects)) == [("form", "jan-case"), ("new-jan", "jan-case")]
