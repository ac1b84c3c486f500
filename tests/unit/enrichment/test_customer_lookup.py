"""The CRM lookup (enrichment/customer.py) against a real HTTP server on loopback: answers,
404s, failures, slow and dead CRMs, the cache, the circuit breaker; never an exception and
never a wait past the budget."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from pydantic import SecretStr

from socialcare.core.domain.care_config import load_care_config
from socialcare.enrichment.customer import (
    CrmAnswerError,
    CrmOptions,
    CustomerLookup,
    parse_answer,
)
from socialcare.enrichment.processor import EnrichmentProcessor
from socialcare.enrichment.settings import EnrichmentSettings
from socialcare.v1 import message_pb2
from tests.unit.enrichment.crm_server import Answer, FakeCrm, running_crm
from tests.unit.factories import T0
from tests.unit.metrics import sample

TOKEN = "s3cr3t-crm-token"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def message(
    author: str = "a1",
    *,
    handle: str = "@jan",
    email: str = "",
    tier: str = "",
    value: float = 0.0,
    language: str = "",
    brand: str = "acme",
) -> message_pb2.SocialMessage:
    return message_pb2.SocialMessage(
        message_id=f"m-{author}",
        channel=message_pb2.CHANNEL_X,
        brand=brand,
        text="waar blijft mijn pakket",
        author=message_pb2.Author(
            id=author,
            handle=handle,
            email=email,
            tier=tier,
            customer_value=value,
            language=language,
        ),
    )


@pytest.fixture
def crm() -> Iterator[FakeCrm]:
    with running_crm() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def lookup_for(crm: FakeCrm, clock: FakeClock) -> Iterator[Callable[..., CustomerLookup]]:
    made: list[CustomerLookup] = []

    def make(**options: float | int | str | None) -> CustomerLookup:
        base = CrmOptions(url=crm.url, token=TOKEN, wait_s=2.0, timeout_s=2.0)
        lookup = CustomerLookup(None, replace(base, **options), clock=clock)  # type: ignore[arg-type]
        made.append(lookup)
        return lookup

    yield make
    for lookup in made:
        lookup.close()


def lookups(outcome: str) -> float:
    return sample("socialcare_crm_lookups_total", outcome=outcome)


def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# -- the protocol ----------------------------------------------------------------------------
def test_a_known_customer_is_asked_once_then_served_from_the_cache(
    crm: FakeCrm, lookup_for: Callable[..., CustomerLookup]
) -> None:
    crm.knows("a1", tier="Gold", value=12000, vip=False, crm_id="C-4711", language="nl")
    lookup = lookup_for()
    fresh_before, hits_before = lookups("fresh"), lookups("hit")
    first = lookup.customer(message("a1", email="jan@example.nl"))
    assert first.profile == message_pb2.CustomerProfile(
        tier="gold", value=12000, vip=False, source="crm", crm_id="C-4711"
    )
    assert first.language == "nl"  # the CRM's, the author stated none
    second = lookup.customer(message("a1"))
    assert second.profile.source == "crm_cache"
    assert second.profile.value == 12000
    assert len(crm.asked()) == 1
    assert lookups("fresh") == fresh_before + 1
    assert lookups("hit") == hits_before + 1


def test_the_request_names_the_customer_and_carries_the_token(
    crm: FakeCrm, lookup_for: Callable[..., CustomerLookup]
) -> None:
    lookup_for().customer(message("a1", handle="@jan_dv", email="jan@example.nl"))
    [request] = crm.asked()
    assert request.path == "/customers/lookup"
    # Only what the message states; no phone or crm_id here.
    assert request.query == {
        "brand": "acme",
        "channel": "x",
        "author_id": "a1",
        "handle": "@jan_dv",
        "email": "jan@example.nl",
    }
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/json"


def test_without_a_token_no_authorization_is_sent(
    crm: FakeCrm, lookup_for: Callable[..., CustomerLookup]
) -> None:
    lookup_for(token=None).customer(message("a1"))
    [request] = crm.asked()
    assert "Authorization" not in request.headers


def test_an_unknown_customer_is_the_authors_own_and_remembered_for_the_unknown_ttl(
    crm: FakeCrm, lookup_for: Callable[..., CustomerLookup], clock: FakeClock
) -> None:
    lookup = lookup_for(unknown_ttl_s=60.0)
    before = lookups("unknown")
    first = lookup.customer(message("a9", tier="standard", value=300))
    assert first.profile == message_pb2.CustomerProfile(tier="standard", value=300, source="crm")
    assert lookups("unknown") == before + 1
    assert lookup.customer(message("a9")).profile.source == "crm_cache"
    assert len(crm.asked("a9")) == 1
    clock.now += 61
    assert lookup.customer(message("a9")).profile.source == "crm"
    assert len(crm.asked("a9")) == 2


def test_a_known_customer_is_asked_again_after_the_cache_ttl(
    crm: FakeCrm, lookup_for: Callable[..., CustomerLookup], clock: FakeClock
) -> None:
    crm.knows("a1", value=100)
    lookup = lookup_for(cache_ttl_s=600.0)
    lookup.customer(message("a1"))
    clock.now += 599
    assert lookup.customer(message("a1")).profile.source == "crm_cache"
    crm.knows("a1", value=250)
    clock.now += 2
    again = lookup.customer(message("a1"))
    assert (again.profile.source, again.profile.value) == ("crm", 250)
    assert len(crm.asked("a1")) == 2


def test_the_cache_holds_at_most_its_size_dropping_the_least_recently_used(
    crm: FakeCrm, lookup_for: Callable[..., CustomerLookup]
) -> None:
    for author in ("a1", "a2", "a3"):
        crm.knows(author, value=1)
    lookup = lookup_for(cache_size=2)
    lookup.customer(message("a1"))
    lookup.customer(message("a2"))
    lookup.customer(message("a1"))  # a1 used last: a2 is the one to go
    lookup.customer(message("a3"))
    assert lookup.customer(message("a1")).profile.source == "crm_cache"
    assert lookup.customer(message("a2")).profile.source == "crm"
    assert len(crm.asked("a2")) == 2


# -- failures ----------------------------------------------------------------------------------
def test_a_server_error_falls_back_and_is_not_cached(
    crm: FakeCrm, lookup_for: Callable[..., CustomerLookup]
) -> None:
    crm.answers_with("a1", 500, b"oops")
    lookup = lookup_for()
    before = lookups("error")
    requests_before = sample("socialcare_crm_requests_total", outcome="error")
    profile = lookup.customer(message("a1", tier="standard", value=50)).profile
    assert profile == message_pb2.CustomerProfile(tier="standard", value=50, source="fallback")
    assert lookups("error") == before + 1
    assert sample("socialcare_crm_requests_total", outcome="error") == requests_before + 1
    lookup.customer(message("a1"))
    assert len(crm.asked("a1")) == 2


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'"gold"',
        b'{"tier": 3}',
        b'{"value": "12000"}',
        b'{"value": true}',
        b'{"value": -5}',
        b'{"value": 1e999}',
        b'{"vip": "yes"}',
        b'{"crm_id": 4711}',
        b'{"language": ["nl"]}',
        b"[" * 50_000,
        b'{"tier": "' + b"x" * 70_000 + b'"}',
    ],
)
def test_a_bad_answer_is_a_failure_never_an_exception(
    crm: FakeCrm, lookup_for: Callable[..., CustomerLookup], body: bytes
) -> None:
    crm.answers_with("a1", 200, body)
    before = lookups("error")
    assert lookup_for().customer(message("a1")).profile.source == "fallback"
    assert lookups("error") == before + 1


def test_nulls_are_absent_fields_and_a_language_that_is_no_code_is_dropped() -> None:
    record = parse_answer(b'{"tier": null, "value": null, "vip": null, "language": "English"}')
    assert (record.known, record.tier, record.value, record.vip, record.language) == (
        True,
        "",
        0.0,
        False,
        "",
    )
    assert parse_answer(b'{"language": "pt_BR", "crm_id": " C  1 "}').language == "pt"
    assert parse_answer(b'{"crm_id": " C  1 ", "extra": {"ignored": 1}}').crm_id == "C 1"
    with pytest.raises(CrmAnswerError, match="value is a str"):
        parse_answer(b'{"value": "1"}')


def test_a_slow_answer_falls_back_now_and_serves_the_next_message(
    crm: FakeCrm, lookup_for: Callable[..., CustomerLookup]
) -> None:
    crm.knows("a1", delay_s=0.3, tier="vip", value=90000, crm_id="C-1")
    lookup = lookup_for(wait_s=0.02)
    before = lookups("miss")
    started = time.perf_counter()
    first = lookup.customer(message("a1"))
    waited = time.perf_counter() - started
    assert first.profile.source == "fallback"
    assert not first.profile.vip
    assert waited < 0.2  # the budget (20 ms), not the CRM's 300 ms
    assert lookups("miss") == before + 1
    eventually(lambda: lookup.customer(message("a1")).profile.source == "crm_cache")
    later = lookup.customer(message("a1")).profile
    assert (later.tier, later.value, later.vip, later.crm_id) == ("vip", 90000, True, "C-1")
    assert len(crm.asked("a1")) == 1  # the messages in between waited on the same request


def test_one_request_in_flight_per_customer(
    crm: FakeCrm, lookup_for: Callable[..., CustomerLookup]
) -> None:
    crm.knows("a1", delay_s=0.3, value=10)
    lookup = lookup_for(wait_s=1.0)
    sources: list[str] = []
    threads = [
        threading.Thread(
            target=lambda: sources.append(lookup.customer(message("a1")).profile.source)
        )
        for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert sorted(sources) == ["crm"] * 5
    assert len(crm.asked("a1")) == 1


def test_a_request_past_its_timeout_is_a_timeout(
    crm: FakeCrm, lookup_for: Callable[..., CustomerLookup]
) -> None:
    crm.knows("a1", delay_s=1.0, value=10)
    lookup = lookup_for(timeout_s=0.1, wait_s=2.0)
    before = lookups("timeout")
    requests_before = sample("socialcare_crm_requests_total", outcome="timeout")
    started = time.perf_counter()
    assert lookup.customer(message("a1")).profile.source == "fallback"
    assert time.perf_counter() - started < 0.9
    assert lookups("timeout") == before + 1
    assert sample("socialcare_crm_requests_total", outcome="timeout") == requests_before + 1


def test_an_unreachable_crm_is_an_error(lookup_for: Callable[..., CustomerLookup]) -> None:
    lookup = lookup_for(url="http://127.0.0.1:9/nothing-listens-here")
    before = lookups("error")
    assert lookup.customer(message("a1")).profile.source == "fallback"
    assert lookups("error") == before + 1


def test_failures_are_logged_once_per_interval_without_the_token_or_customer(
    crm: FakeCrm, lookup_for: Callable[..., CustomerLookup], caplog: pytest.LogCaptureFixture
) -> None:
    crm.default = Answer(503, b"")
    lookup = lookup_for(failures_to_open=100)
    with caplog.at_level(logging.WARNING, logger="socialcare.enrichment.customer"):
        for n in range(5):
            lookup.customer(message(f"a{n}", email="jan@example.nl"))
    failed = [r for r in caplog.records if "CRM lookup failed" in r.getMessage()]
    assert len(failed) == 1
    assert "HTTP 503" in failed[0].getMessage()
    text = caplog.text
    assert TOKEN not in text and "jan@example.nl" not in text and "a3" not in text
    assert TOKEN not in repr(CrmOptions(url=crm.url, token=TOKEN))


# -- the circuit breaker -----------------------------------------------------------------------
def test_consecutive_failures_open_the_circuit_then_one_probe_closes_it(
    crm: FakeCrm, lookup_for: Callable[..., CustomerLookup], clock: FakeClock
) -> None:
    crm.default = Answer(500, b"")
    lookup = lookup_for(failures_to_open=3, cooldown_s=30.0)
    for n in range(3):
        assert lookup.customer(message(f"a{n}")).profile.source == "fallback"
    assert lookup.breaker.is_open
    assert sample("socialcare_crm_circuit_open") == 1
    asked = len(crm.asked())
    before = lookups("circuit_open")
    started = time.perf_counter()
    for n in range(3, 50):
        assert lookup.customer(message(f"a{n}")).profile.source == "fallback"
    assert time.perf_counter() - started < 0.05  # no request, no wait
    assert len(crm.asked()) == asked
    assert lookups("circuit_open") == before + 47
    # Cool-down over: one probe. It fails: open again for another cool-down.
    clock.now += 31
    lookup.customer(message("p1"))
    assert len(crm.asked()) == asked + 1
    assert lookup.breaker.is_open
    lookup.customer(message("p2"))
    assert len(crm.asked()) == asked + 1
    # The CRM is back; after the next cool-down the probe closes the circuit.
    crm.default = Answer(404, b"")
    crm.knows("p3", value=70)
    clock.now += 31
    assert lookup.customer(message("p3")).profile.source == "crm"
    assert not lookup.breaker.is_open
    assert sample("socialcare_crm_circuit_open") == 0
    assert lookup.customer(message("p4")).profile.source == "crm"  # 404: unknown, asked


def test_a_success_resets_the_count_of_consecutive_failures(
    crm: FakeCrm, lookup_for: Callable[..., CustomerLookup]
) -> None:
    crm.default = Answer(500, b"")
    crm.knows("ok", value=1)
    lookup = lookup_for(failures_to_open=3)
    lookup.customer(message("f1"))
    lookup.customer(message("f2"))
    lookup.customer(message("ok"))
    lookup.customer(message("f3"))
    lookup.customer(message("f4"))
    assert not lookup.breaker.is_open
    lookup.customer(message("f5"))
    assert lookup.breaker.is_open


def test_a_full_request_queue_skips_the_lookup(
    crm: FakeCrm, lookup_for: Callable[..., CustomerLookup]
) -> None:
    crm.default = Answer(404, b"", 0.5)
    lookup = lookup_for(workers=1, wait_s=0.0)  # 1 running + 4 waiting at most
    before = lookups("busy")
    sources = [lookup.customer(message(f"a{n}")).profile.source for n in range(6)]
    assert sources == ["fallback"] * 6
    assert lookups("busy") == before + 1


# -- without a CRM, and after close ----------------------------------------------------------
def test_without_a_url_the_profile_is_the_authors_and_nothing_is_asked(crm: FakeCrm) -> None:
    lookup = CustomerLookup.from_settings(EnrichmentSettings(crm_url=""), None)  # type: ignore[arg-type]
    customer = lookup.customer(message("a1", tier="VIP ", value=5000, language="de"))
    assert customer.profile == message_pb2.CustomerProfile(
        tier="vip", value=5000, vip=True, source="author"
    )
    assert customer.language == "de"
    assert crm.asked() == []
    lookup.close()


def test_settings_build_the_options_and_refuse_a_url_that_is_not_http() -> None:
    settings = EnrichmentSettings(
        crm_url=" https://crm.example/lookup ", crm_token=SecretStr(TOKEN), crm_wait_s=0.01
    )
    options = CrmOptions.from_settings(settings)
    assert options is not None
    assert (options.url, options.token, options.wait_s) == (
        "https://crm.example/lookup",
        TOKEN,
        0.01,
    )
    assert TOKEN not in repr(settings)
    with pytest.raises(ValueError, match="must be an http"):
        EnrichmentSettings(crm_url="ftp://user:pw@crm.example")


def test_after_close_lookups_fall_back_without_raising(
    crm: FakeCrm, lookup_for: Callable[..., CustomerLookup]
) -> None:
    crm.knows("a1", value=10)
    lookup = lookup_for()
    lookup.close()
    assert lookup.customer(message("a1")).profile.source == "fallback"


def test_the_authors_stated_language_wins_over_the_crms(
    crm: FakeCrm, lookup_for: Callable[..., CustomerLookup]
) -> None:
    crm.knows("a1", language="fr")
    assert lookup_for().customer(message("a1", language="nl")).language == "nl"


def test_the_processor_enriches_with_the_crms_profile(
    crm: FakeCrm, lookup_for: Callable[..., CustomerLookup]
) -> None:
    crm.knows("a1", tier="gold", value=12000, crm_id="C-1")
    processor = EnrichmentProcessor(lambda: T0, load_care_config(), customers=lookup_for())
    [effect] = processor._on_message(message("a1"), None)  # type: ignore[arg-type]
    enriched = effect.message
    assert isinstance(enriched, message_pb2.EnrichedMessage)
    assert enriched.customer == message_pb2.CustomerProfile(
        tier="gold", value=12000, source="crm", crm_id="C-1"
    )
