"""The replay's RQ job and its queue, ``{queue_prefix}-replay`` (served by
``tradewire worker --venue replay``). JSON-serialised like every Tradewire job."""

import uuid

from rq import Queue

from app.config import get_settings
from app.jobs.queue import JOB_SERIALIZER, get_redis
from app.replay.service import run

JOB_FUNCTION = "app.replay.jobs.run_replay"
QUEUE = "replay"
TIMEOUT_SECONDS = 3600


def queue_name() -> str:
    return f"{get_settings().queue_prefix}-{QUEUE}"


def get_replay_queue() -> Queue:
    return Queue(queue_name(), connection=get_redis(), serializer=JOB_SERIALIZER)


def enqueue_replay(replay_id: uuid.UUID) -> None:
    """Queue the replay's job; its id is ``replay-<id>`` so a repeated enqueue runs it once."""
    get_replay_queue().enqueue(JOB_FUNCTION, str(replay_id), job_id=f"replay-{replay_id}",
                               job_timeout=TIMEOUT_SECONDS, result_ttl=600, failure_ttl=86400)


def run_replay(replay_id: str) -> str:
    """RQ job: run the recorded replay ``replay_id``; returns its final status."""
    return run(uuid.UUID(replay_id))
