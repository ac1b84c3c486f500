"""The fault suite's workload: deterministic customer messages, a driver that sends them
through ingestion's REST door while faults happen, and a replier that answers a subset of
the cases through the gateway as their agents.

Why a driver of its own (not bench/): under faults a request may fail in every way a
client can see (connection refused while the platform restarts, 429/503 with
`Retry-After` while the bus is down, a timeout after the platform took the message), and
the suite must know, per message, whether the platform *accepted* it (202, or 200
`duplicate: true` for a retry of one it took before the answer was lost). Only accepted
messages are promised; the audit counts them. Every retry sends the same body, so the same
(channel, external_id) and the same message id: ingestion de-duplicates it.

The replier answers with an `Idempotency-Key` per case, so a retry after a lost answer
names the same command (and reply id) and routing applies it once.

Everything is deterministic from (`seed`, `run`): the same texts, authors and external ids;
`run` keeps two runs on one broker apart.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

LANGUAGES = ("en", "nl", "de")
CHANNEL = "x"
KIND = "mention"
X_ACCOUNT_ID = "3001969357"
"""The brand's X account the mentions are addressed to (the reply leaves through it)."""
MAX_RETRY_WAIT_S = 5.0
"""A `Retry-After` longer than this is waited as this long: the suite has a time budget."""
SHED_STATUSES = frozenset({429, 503})
MAX_CAPACITY = 1000
"""The most open cases the care config lets one agent hold."""

Headers = Callable[[], Mapping[str, str]]
"""Called before every request: the credential (the platform's bearer token)."""

# Real-looking questions per language: no escalation keywords (legal threats, safety), no
# insults, so only the SLA escalates a case; placeholders vary them per message.
_TEXTS: dict[str, tuple[str, ...]] = {
    "en": (
        "Hi @{brand}, my order {order} still shows as processing after {days} days. "
        "Could you check where it is?",
        "@{brand} I was charged twice for invoice {order} this month, can someone look "
        "into it please?",
        "Hello @{brand}, how do I change the delivery address for order {order}? "
        "I moved last week.",
        "@{brand} the app keeps logging me out since the update, is that a known issue? "
        "Account {order}.",
        "Quick question @{brand}: can I still return the headphones from order {order} "
        "after {days} days?",
    ),
    "nl": (
        "Hallo @{brand}, mijn bestelling {order} staat al {days} dagen op 'in behandeling'. "
        "Kunnen jullie kijken waar die blijft?",
        "@{brand} ik heb deze maand twee keer betaald voor factuur {order}, kan iemand "
        "dat nakijken?",
        "Goedemorgen @{brand}, hoe wijzig ik het bezorgadres van bestelling {order}? "
        "Ik ben vorige week verhuisd.",
        "@{brand} sinds de update word ik steeds uitgelogd in de app, is dat bekend? "
        "Klantnummer {order}.",
        "Vraagje @{brand}: mag ik de koptelefoon van bestelling {order} na {days} dagen "
        "nog terugsturen?",
    ),
    "de": (
        "Hallo @{brand}, meine Bestellung {order} steht seit {days} Tagen auf 'in "
        "Bearbeitung'. Könnt ihr nachsehen, wo sie bleibt?",
        "@{brand} mir wurde die Rechnung {order} diesen Monat zweimal abgebucht, kann sich "
        "das bitte jemand ansehen?",
        "Guten Morgen @{brand}, wie ändere ich die Lieferadresse für Bestellung {order}? "
        "Ich bin letzte Woche umgezogen.",
        "@{brand} seit dem Update werde ich in der App ständig abgemeldet, ist das "
        "bekannt? Kundennummer {order}.",
        "Kurze Frage @{brand}: kann ich die Kopfhörer aus Bestellung {order} nach {days} "
        "Tagen noch zurückschicken?",
    ),
}
_NAMES: dict[str, tuple[str, ...]] = {
    "en": ("Emma Clarke", "James Wilson", "Olivia Brown", "Noah Taylor", "Amelia Hughes"),
    "nl": ("Sanne Bakker", "Daan de Jong", "Lotte Visser", "Bram Smit", "Femke Mulder"),
    "de": ("Lena Fischer", "Jonas Weber", "Mia Schneider", "Felix Wagner", "Hannah Becker"),
}
_REPLY = "Thanks for reaching out! We are looking into {order} now and will update you here."


@dataclass(frozen=True, slots=True)
class WorkloadMessage:
    """One message as `POST /v1/messages` takes it, and what the suite needs to know."""

    index: int
    external_id: str
    author_id: str
    language: str
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Workload:
    """`size` messages from `authors` customers (so about size / authors per case), the
    languages in turn per author, at `rate` messages per second."""

    size: int
    seed: int = 14
    run: str = "faults"
    authors: int | None = None
    rate: float = 200.0
    brand: str = "default"

    @property
    def author_count(self) -> int:
        return self.authors if self.authors is not None else max(1, self.size // 4)

    def care_config(self, breach_after: str = "4s") -> str:
        """A care config for this workload: Dutch first responses breach after
        `breach_after`, English ones have an hour (the replier answers them: met), German
        ones a day (left alone); per language enough agents of the largest capacity that
        every case is assigned at once (the suite counts assignments, not backlogs)."""
        per_language = -(-self.author_count // len(LANGUAGES))
        agents_each = -(-per_language // MAX_CAPACITY) + 1
        lines = [
            "sla_policies:",
            "  - {name: first-response-en, languages: [en], first_response: 1h}",
            "  - {name: first-response-nl-fast, languages: [nl], "
            f"first_response: {breach_after}}}",
            '  - {name: first-response-other, languages: ["*"], first_response: 24h}',
            "queues:",
            *(f"  - {{name: care-{lang}, languages: [{lang}]}}" for lang in LANGUAGES),
            '  - {name: care-global, languages: ["*"]}',
            "agents:",
        ]
        for lang in LANGUAGES:
            for n in range(agents_each):
                lines.append(
                    f"  - {{id: {lang}-agent-{n}, name: Agent {lang.upper()} {n}, "
                    f"languages: [{lang}], capacity: {MAX_CAPACITY}}}"
                )
        return "\n".join(lines) + "\n"

    def author_language(self, author: int) -> str:
        """Each author writes in one language (a case has one language)."""
        return LANGUAGES[author % len(LANGUAGES)]

    def messages(self, start: datetime | None = None) -> list[WorkloadMessage]:
        """The messages in send order; message i is by author i % authors, written at
        `start` (default: now) + i / rate, about when the driver sends it: SLA clocks run
        from when the customer wrote, so a message from the past would be late at once."""
        rand = random.Random(f"{self.seed}:{self.run}")
        start = start or datetime.now(UTC)
        step = timedelta(seconds=1.0 / self.rate if self.rate > 0 else 0.0)
        out: list[WorkloadMessage] = []
        for i in range(self.size):
            author = i % self.author_count
            language = self.author_language(author)
            name = _NAMES[language][author % len(_NAMES[language])]
            order = f"{rand.randrange(10_000_000, 99_999_999)}"
            text = rand.choice(_TEXTS[language]).format(
                brand="ShopCare", order=order, days=rand.randrange(2, 15)
            )
            external_id = f"{self.run}-{self.seed}-{i}"
            author_id = f"{self.run}-{self.seed}-a{author}"
            body = {
                "channel": CHANNEL,
                "kind": KIND,
                "external_id": external_id,
                "author": {
                    "id": author_id,
                    "handle": f"@c{author}_{self.seed}",
                    "name": name,
                    "followers": rand.randrange(10, 900),
                },
                "text": text,
                "created_at": (start + i * step).isoformat(),
                "account_id": X_ACCOUNT_ID,
                "language_hint": language,
                "brand": self.brand,
            }
            out.append(WorkloadMessage(i, external_id, author_id, language, body))
        return out


@dataclass
class Attempted:
    """What became of one request the suite made (a message or a reply), over its attempts.

    `statuses` holds each answer's status (0: no answer — connection refused, reset or
    timed out). `accepted`: the platform said it took it (`result_id` is then the message
    id or the reply's command id); `final`: the last status (0 when it never answered)."""

    key: str
    attempts: int = 0
    statuses: list[int] = field(default_factory=list)
    accepted: bool = False
    duplicate_answer: bool = False
    result_id: str = ""
    final: int = 0
    error: str = ""
    shed_without_retry_after: int = 0
    """429/503 answers without a (parsable) `Retry-After`: the contract says they carry one."""

    @property
    def rejected(self) -> bool:
        return 400 <= self.final < 500 and self.final not in SHED_STATUSES


@dataclass
class SendSummary:
    """Counts over many `Attempted`: the first columns of the audit's table."""

    sent: int
    accepted: int
    rejected: int
    shed: int
    server_errors: int
    no_answer: int
    unconfirmed: int

    @staticmethod
    def of(records: Iterable[Attempted]) -> SendSummary:
        records = list(records)
        statuses = Counter(s for r in records for s in r.statuses)
        return SendSummary(
            sent=len(records),
            accepted=sum(r.accepted for r in records),
            rejected=sum(r.rejected for r in records),
            shed=sum(n for s, n in statuses.items() if s in SHED_STATUSES),
            server_errors=sum(n for s, n in statuses.items() if s >= 500 and s != 503),
            no_answer=statuses.get(0, 0),
            unconfirmed=sum(1 for r in records if not r.accepted and not r.rejected),
        )


class Answers:
    """Answers per status (0: no answer) over a run, readable while it runs (thread-safe):
    a fault schedule reads it between phases ("503s seen while the broker was down")."""

    def __init__(self) -> None:
        self._counts: Counter[int] = Counter()
        self._lock = threading.Lock()

    def count(self, status: int) -> None:
        with self._lock:
            self._counts[status] += 1

    def snapshot(self) -> Counter[int]:
        with self._lock:
            return Counter(self._counts)


class _Requester:
    """Retries one request until the platform accepts or refuses it for good, or the
    deadline passes: shed answers wait `Retry-After`, no answer and 5xx back off."""

    def __init__(
        self, client: httpx.Client, headers: Headers, deadline: float, answers: Answers
    ) -> None:
        self._client = client
        self._headers = headers
        self._deadline = deadline
        self._answers = answers

    def run(
        self,
        record: Attempted,
        method: str,
        path: str,
        body: Mapping[str, Any],
        extra: Mapping[str, str] | None = None,
        accept: Callable[[httpx.Response], str] | None = None,
    ) -> None:
        backoff = 0.1
        while True:
            record.attempts += 1
            wait = backoff
            try:
                headers = {**self._headers(), **(extra or {})}
                answer = self._client.request(method, path, json=body, headers=headers)
            except (httpx.HTTPError, AssertionError) as exc:
                # AssertionError: the header provider could not sign in (platform down).
                record.statuses.append(0)
                record.final = 0
                record.error = f"{type(exc).__name__}: {exc}"
                self._answers.count(0)
            else:
                record.statuses.append(answer.status_code)
                record.final = answer.status_code
                self._answers.count(answer.status_code)
                if 200 <= answer.status_code < 300:
                    record.accepted = True
                    if accept is not None:
                        record.result_id = accept(answer)
                    return
                record.error = answer.text[:300]
                if answer.status_code in SHED_STATUSES:
                    retry_after = _retry_after(answer)
                    if retry_after is None:
                        record.shed_without_retry_after += 1
                    wait = retry_after or backoff
                elif answer.status_code < 500:
                    return  # refused for good: the request is wrong, retrying cannot help
            if time.monotonic() + wait > self._deadline:
                return
            time.sleep(wait)
            backoff = min(backoff * 2, 2.0)


def _retry_after(answer: httpx.Response) -> float | None:
    value = answer.headers.get("retry-after", "")
    try:
        return min(max(float(value), 0.05), MAX_RETRY_WAIT_S)
    except ValueError:
        return None


class _Sending:
    """What the driver and the replier share: the retry budget and the answers and
    progress counters, readable from other threads while a run goes on."""

    def __init__(
        self, headers: Headers, concurrency: int, give_up_after_s: float, timeout_s: float
    ) -> None:
        self._headers = headers
        self._concurrency = concurrency
        self._give_up_after_s = give_up_after_s
        self._timeout_s = timeout_s
        self._settled = 0
        self._lock = threading.Lock()
        self.answers = Answers()

    def status_counts(self) -> Counter[int]:
        """Answers per status so far (0: no answer); safe while a run goes on."""
        return self.answers.snapshot()

    @property
    def progress(self) -> int:
        """Requests settled so far (accepted, refused or given up)."""
        with self._lock:
            return self._settled


GIVE_UP_RATE = 50.0
"""Messages per second a platform under faults is assumed to take at the least: the
driver's default time budget is the workload at this rate (at least 300 s)."""


class Driver(_Sending):
    """Sends a workload's messages at its rate with at most `concurrency` requests in
    flight, retrying each until accepted, refused (4xx) or `give_up_after_s` since the run
    started (by default 300 s, or longer for a big workload: as long as it takes at a
    slow `GIVE_UP_RATE`, so a 100,000-message run is not cut short while the platform is
    still taking messages). `run` blocks until every message is settled; `results` is safe
    to read from other threads meanwhile (`progress` counts settled messages, for fault
    schedules)."""

    def __init__(
        self,
        base_url: str,
        headers: Headers,
        workload: Workload,
        *,
        concurrency: int = 8,
        give_up_after_s: float | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url
        self.workload = workload
        self.messages = workload.messages()
        if give_up_after_s is None:
            give_up_after_s = max(300.0, 60.0 + len(self.messages) / GIVE_UP_RATE)
        super().__init__(headers, concurrency, give_up_after_s, timeout_s)
        self.results = [Attempted(m.external_id) for m in self.messages]

    def run(self) -> SendSummary:
        self.messages = self.workload.messages()  # written now: their SLA clocks start now
        started = time.monotonic()
        deadline = started + self._give_up_after_s
        interval = 1.0 / self.workload.rate if self.workload.rate > 0 else 0.0
        limits = httpx.Limits(max_connections=self._concurrency)
        with (
            httpx.Client(base_url=self.base_url, timeout=self._timeout_s, limits=limits) as client,
            ThreadPoolExecutor(self._concurrency, thread_name_prefix="faults-driver") as pool,
        ):
            requester = _Requester(client, self._headers, deadline, self.answers)
            gate = threading.Semaphore(self._concurrency)

            def send(message: WorkloadMessage) -> None:
                try:
                    requester.run(
                        self.results[message.index],
                        "POST",
                        "/v1/messages",
                        message.body,
                        accept=_message_id,
                    )
                    record = self.results[message.index]
                    record.duplicate_answer = record.final == 200
                finally:
                    with self._lock:
                        self._settled += 1
                    gate.release()

            for message in self.messages:
                due = started + message.index * interval
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                gate.acquire()
                pool.submit(send, message)
        return SendSummary.of(self.results)

    def accepted_ids(self) -> dict[str, str]:
        """external id → message id of every accepted message."""
        return {r.key: r.result_id for r in self.results if r.accepted}


def _message_id(answer: httpx.Response) -> str:
    return str(answer.json()["message_id"])


@dataclass(frozen=True, slots=True)
class CaseToAnswer:
    """A case the replier answers, as its agent (`assignee`)."""

    case_id: str
    assignee: str


class Replier(_Sending):
    """Replies once to each case given, through `POST /v1/cases/{id}/replies` as the case's
    agent, with `Idempotency-Key: faults-reply-<case>`: a retry after a lost answer is the
    same command, so the same reply id. `results` maps case id to what became of it; an
    accepted reply's `result_id` is its command id, which routing uses as the reply id the
    connectors post with (`Idempotency-Key` at the channel)."""

    def __init__(
        self,
        base_url: str,
        headers: Headers,
        *,
        concurrency: int = 4,
        give_up_after_s: float = 120.0,
        timeout_s: float = 10.0,
    ) -> None:
        self.base_url = base_url
        super().__init__(headers, concurrency, give_up_after_s, timeout_s)
        self.results: dict[str, Attempted] = {}

    def reply_all(self, cases: Sequence[CaseToAnswer]) -> SendSummary:
        deadline = time.monotonic() + self._give_up_after_s
        todo = [c for c in cases if c.case_id not in self.results]
        with self._lock:
            for case in todo:
                self.results[case.case_id] = Attempted(case.case_id)
        limits = httpx.Limits(max_connections=self._concurrency)
        with (
            httpx.Client(base_url=self.base_url, timeout=self._timeout_s, limits=limits) as client,
            ThreadPoolExecutor(self._concurrency, thread_name_prefix="faults-replier") as pool,
        ):
            requester = _Requester(client, self._headers, deadline, self.answers)

            def reply(case: CaseToAnswer) -> None:
                try:
                    requester.run(
                        self.results[case.case_id],
                        "POST",
                        f"/v1/cases/{case.case_id}/replies",
                        {"agent": case.assignee, "text": _REPLY.format(order=case.case_id[-8:])},
                        extra={"Idempotency-Key": f"faults-reply-{case.case_id}"},
                        accept=_command_id,
                    )
                finally:
                    with self._lock:
                        self._settled += 1

            list(pool.map(reply, todo))
        return SendSummary.of(self.results.values())

    def accepted_replies(self) -> dict[str, str]:
        """reply id (command id) → case id of every accepted reply."""
        return {r.result_id: case for case, r in self.results.items() if r.accepted}


def _command_id(answer: httpx.Response) -> str:
    return str(answer.json()["command_id"])
