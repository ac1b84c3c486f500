"""The fault suite on real Kafka (KRaft) and Elasticsearch, every service its own process.

The workload's messages go through ingestion's REST door and the agents' replies through
the gateway while this test, in turn:

1. kills each service of `socialcare.cli.SERVICES` with SIGKILL (no shutdown: nothing
   drained, flushed or committed) and starts it again on the same data dir and ports,
   waiting for its /readyz; four before the backends' faults, four after (the ingestion
   process, which also hosts the reply connectors, last, while replies go out);
2. kills the broker with SIGKILL, keeps it down longer than ingestion waits for the bus
   (so requests are answered 503 with `Retry-After`: counted, and asserted), starts it
   again on the same data dir and port, and waits until every service is ready again and
   ingestion accepts by itself;
3. kills Elasticsearch for `SOCIALCARE_FAULTS_ES_OUTAGE_S` seconds (default 15; a minute in
   `make test-faults`) and checks degrade mode from a client's view meanwhile: the inbox
   (`GET /v1/cases`) answers 200 from routing with `X-Socialcare-Degraded: search`,
   full-text search (`GET /v1/search`) 503 with `Retry-After`; then starts it again on its
   data and checks the inbox comes from search again.

Then the pipeline drains and `tests/faults/audit.py` counts from the topics, the search
index and the fake channel's log: every accepted message in exactly one case, every case
assigned once, first responses met for the answered (English) cases and breached once,
and escalated, for the unanswered Dutch ones, every reply posted to the channel once,
every message in search. The table, the fault log and each phase's duration are printed
and written to `faults-kafka.txt` in the test's tmp dir.

The broker and the node are the suite's own (`cluster.DedicatedInfra`), not the session's:
the suite kills them, and exact counts need empty topics. The size comes from
`SOCIALCARE_FAULTS_MESSAGES` (conftest.py). The workload comes in one segment per fault
(`plan`), and each fault strikes while its segment is being sent: every fault hits a
pipeline under load, however long the faults before it took.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from socialcare.core.bus import Bus, BusError, UnknownTopicError
from socialcare.core.bus.kafka import KafkaBus
from socialcare.core.domain.topics import Topic
from socialcare.core.events import InvalidRecordError, decode
from socialcare.core.search.elastic import ElasticsearchIndex
from socialcare.v1 import case_pb2
from tests.e2e.platform import Platform, make_platform
from tests.fakes.platforms import FakePlatforms
from tests.faults.audit import Evidence, Expectations, audit, collect, settle
from tests.faults.cluster import DedicatedInfra, Phases, Services, dedicated_infra
from tests.faults.conftest import faults_messages
from tests.faults.fake_channel import channel_log
from tests.faults.workload import CaseToAnswer, Driver, Replier, SendSummary, Workload

SEED = 14
OUTBOUND_CONCURRENCY = 4
"""The connectors' posting workers: the most replies one crash can leave posted but
unrecorded (one call in flight per worker, whatever the batch size; ADR 0006, addendum)."""
ES_OUTAGE_ENV = "SOCIALCARE_FAULTS_ES_OUTAGE_S"
DEFAULT_ES_OUTAGE_S = 15.0
BROKER_OUTAGE_S = 13.0
"""Longer than ingestion waits for the bus (SOCIALCARE_INGEST_FLUSH_TIMEOUT_S, 10 s): the
requests waiting then are answered 503 instead of being taken late."""
FAULTS = (
    "enrichment",
    "routing",
    "sla",
    "escalation",
    "broker",
    "elasticsearch",
    "indexer",
    "webhooks",
    "gateway",
    "ingestion",
)
"""In this order; a name of `socialcare.cli.SERVICES` is that service's process."""
SEGMENT_S = 10.0
"""The planned length of a service fault's segment of the workload; a backend's segment
is its outage plus two of these, so load goes on through the outage and after it."""
FAULT_AT = 0.25
"""A fault strikes once this share of its segment's messages has settled."""
START_TIMEOUT_S = 150.0
RESTART_TIMEOUT_S = 120.0
RECOVERY_TIMEOUT_S = 120.0
DEGRADE_TIMEOUT_S = 20.0
SEGMENT_TIMEOUT_S = 400.0
REPLY_ROUND_S = 3.0


def es_outage_seconds() -> float:
    value = os.environ.get(ES_OUTAGE_ENV, "").strip()
    if not value:
        return DEFAULT_ES_OUTAGE_S
    try:
        seconds = float(value)
    except ValueError:
        raise pytest.UsageError(f"{ES_OUTAGE_ENV} must be seconds, not {value!r}") from None
    if seconds <= 0:
        raise pytest.UsageError(f"{ES_OUTAGE_ENV} must be positive, not {value!r}")
    return seconds


def segment_seconds(fault: str, es_outage_s: float) -> float:
    if fault == "broker":
        return BROKER_OUTAGE_S + 2 * SEGMENT_S
    if fault == "elasticsearch":
        return es_outage_s + 2 * SEGMENT_S
    return SEGMENT_S


def plan(messages: int, es_outage_s: float) -> tuple[float, list[int]]:
    """The workload's rate and its split into one segment per fault (in FAULTS order).

    Why segments: a fault takes as long as it takes (a restart on a loaded machine may take
    many times the planned seconds), so a single workload at a fixed rate could end before
    the last faults. Each fault gets its own segment instead: it starts sending, the fault
    strikes once FAULT_AT of it has settled, and the next segment starts when both are
    over. So every fault strikes under load, however long the ones before it took."""
    seconds = [segment_seconds(f, es_outage_s) for f in FAULTS]
    rate = messages / sum(seconds)
    sizes = [int(messages * s / sum(seconds)) for s in seconds]
    sizes[-1] += messages - sum(sizes)
    return rate, sizes


@dataclass
class FaultLog:
    """What happened when, for the report; and the client-side checks made during faults."""

    began: float = field(default_factory=time.monotonic)
    lines: list[str] = field(default_factory=list)
    shed_during_broker_outage: int = 0
    degraded_inbox: bool = False
    search_refused_with_retry_after: bool = False
    inbox_from_search_again: bool = False

    def say(self, line: str) -> None:
        """Keep `line` for the report and print it now (pytest -s shows the run as it goes)."""
        stamped = f"[{time.monotonic() - self.began:6.1f} s] {line}"
        self.lines.append(stamped)
        print(stamped, flush=True)


@dataclass
class Background:
    """A function on its own thread; `join` re-raises what it raised."""

    target: Callable[[], Any]
    result: Any = None
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def start(self) -> Background:
        def run() -> None:
            try:
                self.result = self.target()
            except BaseException as exc:  # re-raised by join(), not lost in a thread
                self.error = exc

        self.thread = threading.Thread(target=run, name="faults-background", daemon=True)
        self.thread.start()
        return self

    def join(self, timeout_s: float) -> Any:
        assert self.thread is not None
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), f"{self.target} still running after {timeout_s} s"
        if self.error is not None:
            raise self.error
        return self.result


def english_cases(bus: Bus) -> list[CaseToAnswer]:
    """The assigned English cases with their agents, from routing's changelog (care.cases,
    the latest version of each case)."""
    latest: dict[str, case_pb2.Case] = {}
    try:
        for record in bus.replay(Topic.CASES):
            if record.tombstone:
                continue
            try:
                case = decode(record, case_pb2.CaseEvent).case
            except InvalidRecordError:
                continue  # the audit counts unreadable records
            known = latest.get(case.id)
            if case.id and (known is None or case.version >= known.version):
                latest[case.id] = case
    except UnknownTopicError:
        return []
    return [
        CaseToAnswer(case.id, case.assignee)
        for case in sorted(latest.values(), key=lambda c: c.id)
        if case.language == "en" and case.assignee and not case.merged_into
    ]


@contextmanager
def reply_rounds(bus: Bus, replier: Replier, log: FaultLog) -> Iterator[None]:
    """While the body runs, every REPLY_ROUND_S answer the English cases assigned so far
    (each once: `reply_all` skips those it answered). A round that cannot read the cases
    (the broker is down) is skipped."""
    done = threading.Event()
    failures: list[BaseException] = []

    def rounds() -> None:
        skipped = 0
        while not done.wait(REPLY_ROUND_S):
            try:
                replier.reply_all(english_cases(bus))
            except BusError as exc:
                skipped += 1
                if skipped == 1:  # once per outage, not every round
                    log.say(f"reply rounds skipped while the cases cannot be read: {exc}")
                continue
            except BaseException as exc:  # reported by the test, not lost in a thread
                failures.append(exc)
                return
            if skipped:
                log.say(f"reply rounds again after {skipped} skipped")
                skipped = 0

    thread = threading.Thread(target=rounds, name="faults-replies", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(RESTART_TIMEOUT_S)
    assert not failures, failures


def shed_answers(driver: Driver) -> int:
    """429/503 answers the driver got so far (a snapshot, read while it runs)."""
    counts = driver.status_counts()
    return counts[429] + counts[503]


def restart_service(
    services: Services, name: str, driver: Driver, phases: Phases, log: FaultLog
) -> None:
    at = driver.progress
    seconds = services.restart(name, RESTART_TIMEOUT_S)
    phases.add(f"kill -9 {name}, ready again", seconds)
    log.say(
        f"kill -9 {name} at {at:,} of its segment's {len(driver.results):,} messages settled; "
        f"ready again after {seconds:.1f} s"
    )


def restart_broker(
    infra: DedicatedInfra, services: Services, driver: Driver, phases: Phases, log: FaultLog
) -> None:
    """SIGKILL the broker, keep it down BROKER_OUTAGE_S, resume it on its data; then every
    service must become ready and ingestion accept again without help."""
    assert driver.progress < len(driver.results), "the workload ended before the broker fault"
    shed_before = shed_answers(driver)
    at = driver.progress
    killed = time.monotonic()
    infra.kill_broker()
    time.sleep(max(0.0, BROKER_OUTAGE_S - (time.monotonic() - killed)))
    resumed = infra.resume_broker()
    back = time.monotonic() - killed
    ready = services.wait_ready(RECOVERY_TIMEOUT_S)
    accepted_then = sum(r.accepted for r in list(driver.results))
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    while sum(r.accepted for r in list(driver.results)) == accepted_then:
        if driver.progress == len(driver.results) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    recovered = time.monotonic() - killed
    log.shed_during_broker_outage = shed_answers(driver) - shed_before
    phases.add("broker: kill -9, down, resume", back)
    phases.add("broker: services ready again", ready)
    log.say(
        f"kill -9 broker at {at:,} of its segment's {len(driver.results):,} messages settled; "
        f"down {BROKER_OUTAGE_S:.0f} s, "
        f"ready again after {resumed:.1f} s, every service ready {ready:.1f} s later, "
        f"ingestion accepting again {recovered:.1f} s after the kill; "
        f"{log.shed_during_broker_outage} answers 429/503 meanwhile"
    )


def _inbox(gateway: Platform) -> httpx.Response:
    return gateway.request("GET", "/v1/cases", params={"limit": 5})


def _search(gateway: Platform) -> httpx.Response:
    return gateway.request("GET", "/v1/search", params={"q": "order", "limit": 5})


def _until(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except httpx.HTTPError:
            pass  # a request that got no answer decides nothing
        time.sleep(0.25)
    return False


def stop_elasticsearch(
    infra: DedicatedInfra,
    services: Services,
    outage_s: float,
    driver: Driver,
    phases: Phases,
    log: FaultLog,
) -> None:
    """SIGKILL Elasticsearch for `outage_s`, checking degrade mode through the gateway
    meanwhile; resume it on its data; every service ready, the inbox from search again."""
    gateway = services["gateway"]
    at = driver.progress
    killed = time.monotonic()
    infra.kill_elasticsearch()

    def degraded_inbox() -> bool:
        answer = _inbox(gateway)
        return (
            answer.status_code == 200
            and answer.headers.get("x-socialcare-degraded") == "search"
            and len(answer.json()["cases"]) > 0
        )

    def search_refused() -> bool:
        answer = _search(gateway)
        return answer.status_code == 503 and bool(answer.headers.get("retry-after"))

    log.degraded_inbox = _until(degraded_inbox, DEGRADE_TIMEOUT_S)
    log.search_refused_with_retry_after = _until(search_refused, DEGRADE_TIMEOUT_S)
    time.sleep(max(0.0, outage_s - (time.monotonic() - killed)))
    resumed = infra.resume_elasticsearch()
    back = time.monotonic() - killed
    ready = services.wait_ready(RECOVERY_TIMEOUT_S)

    def inbox_from_search() -> bool:
        answer = _inbox(gateway)
        return answer.status_code == 200 and "x-socialcare-degraded" not in answer.headers

    log.inbox_from_search_again = _until(inbox_from_search, DEGRADE_TIMEOUT_S)
    phases.add("elasticsearch: kill -9, down, resume", back)
    phases.add("elasticsearch: services ready again", ready)
    log.say(
        f"kill -9 elasticsearch at {at:,} of its segment's {len(driver.results):,} messages "
        f"settled; down {outage_s:.0f} s, ready "
        f"again after {resumed:.1f} s, every service ready {ready:.1f} s later; meanwhile "
        f"inbox degraded from routing: {log.degraded_inbox}, search 503 + Retry-After: "
        f"{log.search_refused_with_retry_after}; inbox from search again: "
        f"{log.inbox_from_search_again}"
    )


def strike(
    fault: str,
    infra: DedicatedInfra,
    services: Services,
    outage_s: float,
    driver: Driver,
    phases: Phases,
    log: FaultLog,
) -> None:
    """Wait until FAULT_AT of `driver`'s segment has settled, then inject `fault`."""
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    while driver.progress < FAULT_AT * len(driver.results) and time.monotonic() < deadline:
        time.sleep(0.05)
    if fault == "broker":
        restart_broker(infra, services, driver, phases, log)
    elif fault == "elasticsearch":
        stop_elasticsearch(infra, services, outage_s, driver, phases, log)
    else:
        restart_service(services, fault, driver, phases, log)


def _timeout() -> float:
    """A bound for a machine under load, not a target (the run prints its phases)."""
    return 600.0 + faults_messages() / 25 + 2 * es_outage_seconds()


@pytest.mark.timeout(_timeout())
def test_faults_on_kafka_and_elasticsearch_lose_and_double_nothing(
    tmp_path: Path, channel: FakePlatforms, messages_count: int
) -> None:
    began = time.monotonic()
    phases = Phases()
    faults = FaultLog(began)
    outage_s = es_outage_seconds()
    run = f"kafka-{uuid.uuid4().hex[:6]}"
    rate, sizes = plan(messages_count, outage_s)
    # The care config for the whole run (its agents scale with the authors of all segments).
    workload = Workload(messages_count, seed=SEED, run=run, rate=rate)
    title = (
        f"Fault suite, Kafka + Elasticsearch, every service its own process "
        f"({messages_count:,} messages)"
    )
    reported = False
    try:
        with dedicated_infra(tmp_path / "infra", phases) as infra:
            base = make_platform(
                tmp_path,
                f"kafka://{infra.kafka_bootstrap}",
                infra.elasticsearch_url,
                workload.care_config(),
            )
            base.env.update(
                {**channel.env(), "SOCIALCARE_OUTBOUND_CONCURRENCY": str(OUTBOUND_CONCURRENCY)}
            )
            services = Services(base)
            bus = KafkaBus(infra.kafka_bootstrap)
            search = ElasticsearchIndex(
                infra.elasticsearch_url, index_prefix=base.env["SOCIALCARE_SEARCH_INDEX_PREFIX"]
            )
            try:
                with phases.timed("services start (8 processes, until ready)"):
                    services.start_all(START_TIMEOUT_S)
                gateway, ingestion = services["gateway"], services["ingestion"]
                gateway.token()  # signed in once; the token outlives every restart
                replier = Replier(gateway.base_url, gateway.auth_headers)
                drivers: list[Driver] = []
                with phases.timed("faults, under load"), reply_rounds(bus, replier, faults):
                    for fault, size in zip(FAULTS, sizes, strict=True):
                        segment = Workload(size, seed=SEED, run=f"{run}-{fault}", rate=rate)
                        driver = Driver(ingestion.base_url, gateway.auth_headers, segment)
                        drivers.append(driver)
                        sending = Background(driver.run).start()
                        strike(fault, infra, services, outage_s, driver, phases, faults)
                        sending.join(SEGMENT_TIMEOUT_S)
                results = [r for d in drivers for r in d.results]
                sent = SendSummary.of(results)
                accepted = {r.result_id for r in results if r.accepted}

                def cases_ready() -> bool:
                    held = collect(bus, None, ()).message_cases()
                    return all(held.get(m) for m in accepted)

                with phases.timed("cases settle, last replies"):
                    settle(bus, cases_ready, quiet_s=3.0, timeout_s=120.0)
                    replier.reply_all(english_cases(bus))
                # Two faults can cut the connectors between a post and its record: the
                # ingestion kill and the broker restart (the delivery cannot be recorded).
                expect = Expectations(reply_window=2 * OUTBOUND_CONCURRENCY)

                def evidence() -> Evidence:
                    return collect(bus, search, accepted, lambda: channel_log(channel))

                def settled() -> bool:
                    return not audit(evidence(), results, replier.results, expect).problems

                with phases.timed("drain until the audit holds (bounded)"):
                    settle(bus, settled, quiet_s=6.0, timeout_s=120.0)
                report = audit(evidence(), results, replier.results, expect)
            finally:
                with phases.timed("services stop"):
                    exits = services.stop_all()
                bus.close()
                search.close()
        phases.add("in all (infra down included)", time.monotonic() - began)
        english = len(replier.results)
        report.notes[:0] = [
            *faults.lines,
            f"{messages_count:,} messages at {workload.rate:.0f}/s, {english:,} English cases "
            f"answered; exit codes at the end: {dict(exits)}",
        ]
        text = f"{report.text(title)}\n\n{phases.text()}"
        path = tmp_path / "faults-kafka.txt"
        path.write_text(text + "\n")
        print(f"\n{text}\n\n(written to {path})")
        reported = True
    finally:
        if not reported:  # failed or timed out: what ran, and how long
            print("\n" + "\n".join(faults.lines) + f"\n{phases.text()}", flush=True)

    assert sent.accepted > 0 and english > 0
    # The broker restart, from a client's view: refused with 503 + Retry-After, then
    # accepted again without help (every accepted message is then counted by the audit).
    assert faults.shed_during_broker_outage > 0, "no 503 while the broker was down"
    assert sum(r.shed_without_retry_after for r in results) == 0
    # The Elasticsearch outage, from a client's view.
    assert faults.degraded_inbox, "GET /v1/cases did not answer from routing (degraded)"
    assert faults.search_refused_with_retry_after, "GET /v1/search was not 503 + Retry-After"
    assert faults.inbox_from_search_again
    assert not report.problems, text
