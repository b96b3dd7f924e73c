from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from galley.errors import problem_responses
from galley.events import service
from galley.events.schemas import EventOut
from galley.events.service import EventType
from galley.http.paging import Limit, Page
from galley.http.routing import GalleyRoute, Session
from galley.identity.service import requires

router = APIRouter(prefix="/v1", tags=["events"], route_class=GalleyRoute)


@router.get(
    "/events",
    response_model=Page[EventOut],
    dependencies=[requires("events:read")],
    responses=problem_responses(401, 403, 422),
    summary="The event stream, for integrations that poll",
)
async def list_events(
    session: Session,
    after: Annotated[
        str | None,
        Query(
            pattern=r"^evt_[0-9a-f]{32}$",
            description="The id of the last event you have; the answer starts after it.",
        ),
    ] = None,
    type: Annotated[list[EventType] | None, Query(description="Only these types.")] = None,
    limit: Limit = 50,
) -> Page[EventOut]:
    """Published events in the order every consumer sees them. Poll with the id of the
    last event you have; `next_cursor` is that id when more may follow at once."""
    found = await service.published(session, after=after, types=type or [], limit=limit)
    data = [EventOut.model_validate(e, from_attributes=True) for e in found]
    return Page(data=data, next_cursor=data[-1].id if len(data) == limit else None)
