from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from galley.audit import service
from galley.audit.models import AuditEvent
from galley.audit.schemas import AuditEventOut
from galley.errors import problem_responses
from galley.http.paging import Cursor, Limit, Page
from galley.http.routing import GalleyRoute, Session
from galley.identity.service import requires
from galley.timestamps import Timestamp

router = APIRouter(prefix="/v1", tags=["audit"], route_class=GalleyRoute)


def event_view(event: AuditEvent) -> AuditEventOut:
    return AuditEventOut.model_validate(
        {
            **{f: getattr(event, f) for f in AuditEventOut.model_fields if f != "id"},
            "id": str(event.id),
        }
    )


@router.get(
    "/audit-events",
    response_model=Page[AuditEventOut],
    dependencies=[requires("audit:read")],
    responses=problem_responses(401, 403, 422),
    summary="Security events, oldest first",
)
async def list_audit_events(
    session: Session,
    kind: Annotated[service.Kind | None, Query()] = None,
    actor: Annotated[
        str | None, Query(max_length=100, pattern=r"^[a-z_]+(:[0-9]{1,18})?$", examples=["user:7"])
    ] = None,
    since: Annotated[Timestamp | None, Query(description="Events at or after this time.")] = None,
    until: Annotated[Timestamp | None, Query(description="Events before this time.")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[AuditEventOut]:
    events, next_cursor = await service.list_events(
        session, kind=kind, actor=actor, since=since, until=until, cursor=cursor, limit=limit
    )
    return Page(data=[event_view(e) for e in events], next_cursor=next_cursor)
