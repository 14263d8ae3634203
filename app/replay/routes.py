"""``POST /api/v1/replays`` (runs as a job, answers its id) and ``GET /api/v1/replays/{id}``
(progress and the report). Admin token; thin: ``app.replay.service`` does the work."""

import json
import uuid
from typing import Any

from fastapi import APIRouter, Response

from app.deps import AdminDep, SessionDep
from app.errors import NotFound, ServiceUnavailable
from app.replay import jobs, service
from app.replay.spec import ReplayRequest

router = APIRouter(prefix="/api/v1", tags=["replay"], dependencies=[AdminDep])


@router.post("/replays", status_code=202, summary="Replay signals against market history (runs as a job)")
def create_replay(request: ReplayRequest, session: SessionDep) -> dict[str, Any]:
    """Record the replay and queue it on ``{queue_prefix}-replay``; answers its ``id``. Poll
    ``GET /api/v1/replays/{id}`` for progress and the report."""
    with session.begin():
        replay_id = service.create(session, request)
    try:
        jobs.enqueue_replay(replay_id)
    except Exception as e:  # redis-py raises several unrelated classes for a down server
        with session.begin():
            service.status(session, replay_id).status = service.Statuses.FAILED
            service.status(session, replay_id).error = f"not queued: {type(e).__name__}"
        raise ServiceUnavailable("the replay could not be queued (Redis unavailable); ask again shortly") from e
    return {"id": str(replay_id), "status": service.Statuses.QUEUED, "url": f"/api/v1/replays/{replay_id}"}


@router.get("/replays/{replay_id}", summary="A replay's progress and, once done, its report")
def get_replay(replay_id: uuid.UUID, session: SessionDep) -> dict[str, Any]:
    record = service.status(session, replay_id)
    total, done = record.signals_total, record.signals_done
    return {
        "id": str(record.id), "status": record.status, "error": record.error,
        "progress": {"signals_done": done, "signals_total": total,
                     "fraction": round(done / total, 4) if total else (1.0 if record.status == "done" else 0.0)},
        "created_at": record.created_at.isoformat(),
        "started_at": record.started_at.isoformat() if record.started_at else None,
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
        "report": json.loads(record.report) if record.report else None,
    }


@router.get("/replays/{replay_id}/report", summary="A finished replay's report, byte for byte as produced")
def get_report(replay_id: uuid.UUID, session: SessionDep) -> Response:
    record = service.status(session, replay_id)
    if record.report is None:
        raise NotFound(f"replay {replay_id} has no report ({record.status})")
    return Response(record.report.encode(), media_type="application/json")
