"""RQ queues: one per venue, named ``{prefix}-{venue}``; the job id is the intent's client order id.

Jobs are stored as JSON (``JOB_SERIALIZER``), never pickled: with RQ's default (pickle) anyone
who can write to Redis runs code in the worker. Every ``Queue``, ``Worker`` and ``Job.fetch``
must pass ``serializer=JOB_SERIALIZER``; job arguments are ids and plain strings.
"""

import logging
import uuid

from rq import Queue
from rq.serializers import JSONSerializer

from app.config import get_settings
from app.redis_client import get_redis, reset_redis  # noqa: F401  (re-exported: the queues' connection)

log = logging.getLogger(__name__)
JOB_FUNCTION = "app.jobs.tasks.execute_intent"
JOB_SERIALIZER = JSONSerializer


def queue_name(venue: str) -> str:
    return f"{get_settings().queue_prefix}-{venue}"


def get_queue(venue: str) -> Queue:
    return Queue(queue_name(venue), connection=get_redis(), serializer=JOB_SERIALIZER)


def enqueue_intent(intent_id: uuid.UUID, client_order_id: str, venue: str) -> bool:
    """Put the intent's job on its venue queue. Returns False (and logs) if Redis is
    unreachable: the intent stays ``pending`` in PostgreSQL and the sweeper re-enqueues it."""
    try:
        queue = get_queue(venue)
        with queue.connection.pipeline() as pipe:  # RQ's queue registration and the job: one round trip
            queue.enqueue(JOB_FUNCTION, str(intent_id), job_id=client_order_id, result_ttl=600, failure_ttl=86400,
                          pipeline=pipe)
            pipe.execute()
        return True
    except Exception as e:  # redis-py raises several unrelated classes for a down server
        log.warning("enqueue failed, the sweeper will retry", extra={"intent_id": str(intent_id), "error": str(e)})
        return False
