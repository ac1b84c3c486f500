"""`GET /v1/wall`: the command-center wall's live figures as JSON, for tools and
integrators (the console's `/wall` page renders the very same figures).

The figures come from the console's `CaseBoard` (the gateway's projection of care.cases)
through `console.views.wall`, the function the page uses, over the cases of the caller's
brands: per language the SLA met and breached over the last 24 h, first-response p50/p90,
open, at-risk and overdue cases; per queue the cases waiting for an agent, with an agent
and waiting on the customer, and since when the oldest waits; per team the agents with a
console open beside the roster; the customers' average sentiment per hour. It needs
`read_operations`, as the page does. `board_ready` is false until the gateway has replayed
care.cases (the figures are then incomplete).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.encoders import jsonable_encoder

from socialcare.console import views
from socialcare.console.board import CaseBoard
from socialcare.core.auth import Permission, Principal, require
from socialcare.core.clock import Clock, utc_now
from socialcare.core.domain.care_config import CareConfig
from socialcare.core.http_errors import error_responses

Operator = Annotated[Principal, Depends(require(Permission.READ_OPERATIONS))]


def wall_json(
    care: CareConfig, board: CaseBoard, principal: Principal, clock: Clock = utc_now
) -> dict[str, Any]:
    """The wall's figures for `principal` (their brands' cases), as JSON."""
    now = clock()
    mine = board.cases(lambda case: principal.sees_brand(case.brand))
    figures = views.wall(care, mine, board.agents_present(), now, brands=principal.brands)
    body: dict[str, Any] = jsonable_encoder(figures)
    body["window_s"] = figures.window.total_seconds()
    body.pop("window", None)
    body["board_ready"] = board.ready
    body["at"] = jsonable_encoder(now)
    return body


def wall_router(*, care: CareConfig, board: CaseBoard, clock: Clock = utc_now) -> APIRouter:
    """`GET /v1/wall` over the gateway's board (the console's)."""
    api = APIRouter(prefix="/v1")

    @api.get(
        "/wall",
        tags=["reports"],
        summary="The command-center wall's live figures (SLA per language, queues, "
        "agents at the console, sentiment)",
        responses=error_responses(
            401, 403, descriptions={403: "The credential lacks `read_operations` (`forbidden`)."}
        ),
    )
    def get_wall(principal: Operator) -> dict[str, Any]:
        """As the console's `/wall` shows them, for the caller's brands."""
        return wall_json(care, board, principal, clock)

    return api
