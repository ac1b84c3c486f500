"""The privacy API: erase a customer everywhere (GDPR art. 17), and the report of what was
erased. Admins only (permission `manage`).

* `POST /v1/privacy/erasures` `{brand, identities: ["email:jan@example.com", "x:123", ...]}`
  (or the fields `email`, `phone`, `handle` as `channel:@handle`, `crm_id`), normalised as
  the case book keeps identities (`core.domain.identities`; a national phone number is read
  with the brand's `phone_country`). The gateway asks every routing instance which of its
  cases hold any of them (`PrivacyService.FindCustomerCases`; every instance must answer,
  or 503: a partial answer would leave cases behind), publishes the `ErasureRequest` on
  privacy.erasures and one `AgentCommand(erase=EraseCase)` per case on care.commands, waits
  until all are durable, and answers 202 with the erasure id and the cases. The request is
  audited (`privacy.erase`, target the erasure).
* `GET /v1/privacy/erasures/{id}`: the report: the request, every `ErasureStep` so far
  (store, service, items, cases, time, note), per store the items added up, and a status:
  `complete` when every expected store has reported (per case for the stores that erase per
  case, once for the others), else `in_progress` with what is pending.
* `GET /v1/privacy/erasures`: the erasures known, newest first.

The report is read from privacy.erasures (one partition, small) by `ErasureFollower`, one
thread per gateway process: it replays the topic at start, then follows it.

What the stores do is theirs (routing drops the case and tombstones care.cases and its
changelogs; the indexer deletes the documents; the webhooks service tombstones deliveries;
topics that are not compacted expire with their retention, which routing's step notes).
Messages that arrive later from the same customer open a new case: an erasure is of what
exists when it is made.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from socialcare.core.audit import note
from socialcare.core.auth import Permission, Principal, require
from socialcare.core.bus import Bus, Producer, Record
from socialcare.core.clock import from_timestamp, to_timestamp, utc_now
from socialcare.core.domain import identities as ids
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.domain.erasure import erase_command_id
from socialcare.core.domain.topics import Topic
from socialcare.core.effects import Emit, publish_effects
from socialcare.core.errors import (
    FieldProblem,
    InvalidRequestError,
    NotFoundError,
    UnavailableError,
    UpstreamError,
)
from socialcare.core.events import InvalidRecordError, decode
from socialcare.core.follower import TopicFollower
from socialcare.core.http_errors import RequestModel, error_responses
from socialcare.gateway.cases import CaseServiceError, RoutingUnavailableError
from socialcare.gateway.instances import (
    UNREACHABLE,
    Credential,
    InstancePool,
    Resolver,
    resolve_addresses,
)
from socialcare.v1 import audit_pb2, commands_pb2, privacy_pb2, privacy_pb2_grpc

log = logging.getLogger(__name__)

SOURCE = "gateway"
# Stores that erase per case (a step names the cases it did); the others report once per
# erasure.
PER_CASE_STORES = frozenset({"cases", "search", "identities", "assignments", "sla", "escalation"})
MAX_IDENTITIES = 50


class PrivacySettings(BaseSettings):
    """Settings of the erasure report (prefix `SOCIALCARE_`)."""

    model_config = SettingsConfigDict(env_prefix="SOCIALCARE_", extra="ignore")

    erasure_expected_stores: str = Field(
        default="cases,search,webhooks",
        description="SOCIALCARE_ERASURE_EXPECTED_STORES: the stores whose report makes an "
        "erasure `complete` (comma-separated). cases, search, identities, assignments, sla "
        "and escalation must report for every case of the erasure; any other store once.",
    )

    @property
    def expected_stores(self) -> tuple[str, ...]:
        return tuple(s.strip() for s in self.erasure_expected_stores.split(",") if s.strip())


# -- routing's PrivacyService on every instance -------------------------------------------


class PrivacyClient(InstancePool[privacy_pb2_grpc.PrivacyServiceStub]):
    """Asks every routing instance which of its cases hold a customer's identities.
    Thread-safe; a runtime `Component` (channels closed at `join`)."""

    name = "gateway-privacy-client"

    def __init__(
        self,
        targets: str,
        *,
        timeout_s: float = 5.0,
        refresh_s: float = 30.0,
        resolver: Resolver = resolve_addresses,
        credential: Credential | None = None,
    ) -> None:
        super().__init__(
            targets,
            stub=privacy_pb2_grpc.PrivacyServiceStub,
            service="routing's PrivacyService",
            unavailable=RoutingUnavailableError,
            timeout_s=timeout_s,
            refresh_s=refresh_s,
            resolver=resolver,
            refresh_in_background=False,
            credential=credential,
        )

    def find_customer_cases(
        self, brand: str, identities: Sequence[str]
    ) -> list[privacy_pb2.CustomerCase]:
        """The cases of `brand` holding any of `identities`, from every instance (each
        answers for the partitions it owns), each case once with the identities it
        matched, sorted by id. RoutingUnavailableError when an instance is unreachable or
        too slow, CaseServiceError when one failed otherwise: an erasure must not miss the
        cases of an instance that did not answer."""
        request = privacy_pb2.FindCustomerCasesRequest(brand=brand, identities=list(identities))
        answers, failures = self.ask_all(lambda stub: stub.FindCustomerCases, request)
        if failures:
            detail = "PrivacyService.FindCustomerCases: " + "; ".join(str(f) for f in failures)
            if {failure.code for failure in failures} <= UNREACHABLE:
                raise RoutingUnavailableError(detail)
            raise CaseServiceError(detail)
        merged: dict[str, set[str]] = {}
        for answer in answers:
            for case in answer.cases:
                merged.setdefault(case.case_id, set()).update(case.matched)
        return [
            privacy_pb2.CustomerCase(case_id=case_id, matched=sorted(matched))
            for case_id, matched in sorted(merged.items())
        ]


# -- the erasures, as privacy.erasures tells them ------------------------------------------


@dataclass
class Erasure:
    erasure_id: str
    request: audit_pb2.ErasureRequest | None = None
    steps: list[audit_pb2.ErasureStep] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def report(self, expected: Sequence[str]) -> dict[str, Any]:
        """The report: the request, the steps, per store what was erased, and whether every
        expected store has reported (see the module docstring)."""
        case_ids = list(self.request.case_ids) if self.request is not None else []
        stores: dict[str, dict[str, Any]] = {}
        for step in self.steps:
            store = stores.setdefault(
                step.store,
                {"store": step.store, "items": 0, "case_ids": set(), "services": set(),
                 "notes": []},
            )  # fmt: skip
            store["items"] += step.items
            store["case_ids"].update(step.case_ids)
            store["services"].add(step.service)
            if step.note and step.note not in store["notes"]:
                store["notes"].append(step.note)
        pending = []
        for name in expected:
            reported = stores.get(name)
            if name in PER_CASE_STORES:
                missing = [c for c in case_ids if reported is None or c not in reported["case_ids"]]
                if missing:
                    pending.append({"store": name, "case_ids": missing})
            elif reported is None:
                pending.append({"store": name, "case_ids": []})
        complete = self.request is not None and not pending
        request = self.request
        return {
            "erasure_id": self.erasure_id,
            "status": "complete" if complete else "in_progress",
            "request": None
            if request is None
            else {
                "brand": request.brand,
                "identities": list(request.identities),
                "case_ids": case_ids,
                "requested_by": request.requested_by,
                "requested_at": _time(request.requested_at),
                "reason": request.reason,
            },
            "pending": pending,
            "stores": [
                {
                    **store,
                    "case_ids": sorted(store["case_ids"]),
                    "services": sorted(store["services"]),
                }
                for store in sorted(stores.values(), key=lambda s: str(s["store"]))
            ],
            "steps": [
                {
                    "store": step.store,
                    "service": step.service,
                    "items": step.items,
                    "case_ids": list(step.case_ids),
                    "at": _time(step.at),
                    "note": step.note,
                }
                for step in self.steps
            ],
        }


def _time(at: Any) -> str | None:
    if not at.seconds and not at.nanos:
        return None
    return from_timestamp(at).isoformat().replace("+00:00", "Z")


class ErasureBook:
    """Every erasure and its steps, by id. Thread-safe: the follower writes, requests read.
    Applying the same event twice (the follower reading what this process published) is a
    no-op: events are kept once per event id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._erasures: dict[str, Erasure] = {}
        self.ready = threading.Event()

    def apply(self, event: audit_pb2.PrivacyEvent) -> None:
        which = event.WhichOneof("event")
        if which is None:
            return
        erasure_id = event.request.erasure_id if which == "request" else event.step.erasure_id
        if not erasure_id:
            return
        with self._lock:
            erasure = self._erasures.setdefault(erasure_id, Erasure(erasure_id))
            if event.event_id and event.event_id in erasure.seen:
                return
            erasure.seen.add(event.event_id)
            if which == "request":
                erasure.request = event.request
            else:
                erasure.steps.append(event.step)

    def apply_records(self, records: Iterable[Record]) -> None:
        for record in records:
            if record.tombstone:
                continue
            try:
                self.apply(decode(record, audit_pb2.PrivacyEvent))
            except InvalidRecordError as exc:
                log.warning(
                    "unreadable record on privacy.erasures skipped",
                    extra={"offset": record.offset, "error": str(exc)},
                )

    def get(self, erasure_id: str) -> Erasure | None:
        with self._lock:
            found = self._erasures.get(erasure_id)
            if found is None:
                return None
            return Erasure(found.erasure_id, found.request, list(found.steps), set(found.seen))

    def all(self) -> list[Erasure]:
        with self._lock:
            return [
                Erasure(e.erasure_id, e.request, list(e.steps), set(e.seen))
                for e in self._erasures.values()
            ]


class ErasureFollower(TopicFollower):
    """A `Component`: one thread that replays privacy.erasures into the `ErasureBook` at
    start and then follows it (`TopicFollower`: a consumer group of its own that never
    commits: the position is worth nothing to another process, and this one replays on
    restart). The book is `ready` once the replay is done."""

    def __init__(self, bus: Bus, book: ErasureBook) -> None:
        self._book = book
        super().__init__(
            bus,
            [Topic.PRIVACY_ERASURES.value],
            book.apply_records,
            name="gateway-erasures",
            group="gateway-erasures",
            prepare=self._rebuild_unless_ready,
        )

    def _rebuild_unless_ready(self) -> None:
        if not self._book.ready.is_set():
            self.replay(self._book.apply_records)
            self._book.ready.set()


# -- the routes ----------------------------------------------------------------------------


class ErasureCreate(RequestModel):
    """Whom to erase: identities as `kind:value`, or the fields."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    brand: str = Field(min_length=1, max_length=100, examples=["acme"])
    identities: list[str] = Field(
        default_factory=list,
        max_length=MAX_IDENTITIES,
        description='`kind:value`: "email:jan@example.com", "phone:+31612345678", "x:12345" '
        '(an author id on a channel), "handle:x:jan_de_vries", "crm:C-1".',
        examples=[["email:jan@example.com", "x:12345"]],
    )
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(
        default=None, max_length=50, description="National numbers use the brand's country."
    )
    handle: str | None = Field(
        default=None, max_length=200, description="`channel:@handle`, e.g. `x:@jan`."
    )
    crm_id: str | None = Field(default=None, max_length=200)


def customer_identities(body: ErasureCreate, calling_code: str | None) -> list[str]:
    """The request's identities as the case book keys them, each once, in order.
    InvalidRequestError (422) naming every field that is not an identity."""
    given: list[tuple[str, str, str]] = []  # (field, kind, value)
    for index, key in enumerate(body.identities):
        kind, value = ids.parse_key(key.strip())
        given.append((f"identities[{index}]", kind, value))
    if body.email is not None:
        given.append(("email", ids.EMAIL, body.email))
    if body.phone is not None:
        given.append(("phone", ids.PHONE, body.phone))
    if body.handle is not None:
        channel, _, handle = body.handle.partition(":")
        given.append(("handle", ids.HANDLE_PREFIX + channel.strip().lower(), handle))
    if body.crm_id is not None:
        given.append(("crm_id", ids.CRM, body.crm_id))
    problems: list[FieldProblem] = []
    keys: dict[str, None] = {}
    for name, kind, value in given:
        try:
            normal = ids.normalise(kind, value, calling_code=calling_code)
        except ValueError as exc:
            problems.append(FieldProblem(name, "invalid_identity", str(exc)))
            continue
        keys.setdefault(f"{kind}:{normal}", None)
    if problems:
        raise InvalidRequestError(
            "; ".join(f"{p.field}: {p.message}" for p in problems),
            field=problems[0].field if len(problems) == 1 else None,
            details=problems,
        )
    if not keys:
        raise InvalidRequestError(
            "name the customer: identities, email, phone, handle or crm_id", field="identities"
        )
    return list(keys)


def erase_commands(
    erasure_id: str, case_ids: Sequence[str], *, reason: str, issued_by: str, now: datetime
) -> list[commands_pb2.AgentCommand]:
    """One EraseCase command per case; the ids derive from the erasure and the case
    (`core.domain.erasure.erase_command_id`, as routing's retention sweep makes them), so a
    republished erasure is the same commands."""
    return [
        commands_pb2.AgentCommand(
            command_id=erase_command_id(erasure_id, case_id),
            case_id=case_id,
            issued_at=to_timestamp(now),
            issued_by=issued_by,
            erase=commands_pb2.EraseCase(erasure_id=erasure_id, reason=reason),
        )
        for case_id in case_ids
    ]


Manager = Annotated[Principal, Depends(require(Permission.MANAGE))]
ErasureId = Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]


def privacy_router(
    *,
    care: CareConfig,
    producer: Producer,
    privacy: PrivacyClient,
    book: ErasureBook,
    settings: PrivacySettings | None = None,
) -> APIRouter:
    expected = (settings or PrivacySettings()).expected_stores
    api = APIRouter(prefix="/v1/privacy", tags=["privacy"])

    @api.post(
        "/erasures",
        summary="Erase a customer everywhere (GDPR): their cases, search, tombstones",
        status_code=HTTPStatus.ACCEPTED,
        responses=error_responses(
            400,
            401,
            403,
            415,
            422,
            502,
            503,
            descriptions={
                403: "Needs role admin (`forbidden`).",
                422: "An unknown brand, or an identity that is not one (naming the field).",
                502: "A routing instance failed (`routing_failed`).",
                503: "A routing instance or the bus cannot answer now; nothing was erased.",
            },
        ),
    )
    def create_erasure(request: Request, body: ErasureCreate, principal: Manager) -> dict[str, Any]:
        brands = {b.name: b for b in care.effective_brands}
        brand = brands.get(body.brand)
        if brand is None:
            raise InvalidRequestError(
                f"unknown brand {body.brand!r}; known: {sorted(brands)}", field="brand"
            )
        keys = customer_identities(body, brand.phone_country)
        erasure_id = uuid.uuid4().hex
        note(request, target_type="erasure", target_id=erasure_id, brand=brand.name,
             details={"identities": str(len(keys))})  # fmt: skip
        try:
            found = privacy.find_customer_cases(brand.name, keys)
        except RoutingUnavailableError as exc:
            raise UnavailableError(
                f"routing unavailable, nothing erased: {exc}", code="routing_unavailable"
            ) from exc
        except CaseServiceError as exc:
            raise UpstreamError(
                f"routing failed, nothing erased: {exc}", code="routing_failed"
            ) from exc
        case_ids = [case.case_id for case in found]
        now = utc_now()
        erasure = audit_pb2.ErasureRequest(
            erasure_id=erasure_id,
            brand=brand.name,
            identities=keys,
            case_ids=case_ids,
            requested_by=principal.id,
            requested_at=to_timestamp(now),
            reason="gdpr",
        )
        event = audit_pb2.PrivacyEvent(event_id=erasure_id, request=erasure)
        effects = [Emit(Topic.PRIVACY_ERASURES, event)]
        effects += [
            Emit(Topic.COMMANDS, command)
            for command in erase_commands(
                erasure_id, case_ids, reason="gdpr", issued_by=principal.id, now=now
            )
        ]
        publish_effects(producer, effects, source=SOURCE)
        # 202 promises the erasure is under way: the request and its commands are durable.
        producer.flush()
        book.apply(event)
        log.info(
            "erasure requested",
            extra={"erasure_id": erasure_id, "brand": brand.name, "cases": len(case_ids)},
        )
        return {
            "erasure_id": erasure_id,
            "brand": brand.name,
            "case_ids": case_ids,
            "status_url": f"/v1/privacy/erasures/{erasure_id}",
        }

    @api.get(
        "/erasures/{erasure_id}",
        summary="The report of an erasure: what each store erased, and what is pending",
        responses=error_responses(
            401, 403, 404, 422, descriptions={403: "Needs role admin (`forbidden`)."}
        ),
    )
    def get_erasure(erasure_id: ErasureId, principal: Manager) -> dict[str, Any]:
        erasure = book.get(erasure_id)
        if erasure is None:
            raise NotFoundError(f"erasure {erasure_id} not found")
        return erasure.report(expected)

    @api.get(
        "/erasures",
        summary="The erasures, newest first, with their status",
        responses=error_responses(
            401, 403, 422, descriptions={403: "Needs role admin (`forbidden`)."}
        ),
    )
    def list_erasures(
        principal: Manager,
        brand: Annotated[str | None, Query(max_length=100)] = None,
        status: Literal["complete", "in_progress"] | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        rows = []
        for erasure in book.all():
            if erasure.request is None:
                continue
            if brand is not None and erasure.request.brand != brand:
                continue
            report = erasure.report(expected)
            if status is not None and report["status"] != status:
                continue
            rows.append(
                {
                    "erasure_id": erasure.erasure_id,
                    "brand": erasure.request.brand,
                    "reason": erasure.request.reason,
                    "requested_at": report["request"]["requested_at"],
                    "requested_by": erasure.request.requested_by,
                    "cases": len(erasure.request.case_ids),
                    "status": report["status"],
                }
            )
        rows.sort(key=lambda row: (row["requested_at"] or "", row["erasure_id"]), reverse=True)
        return {"erasures": rows[:limit], "ready": book.ready.is_set()}

    return api
