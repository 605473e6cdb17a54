"""Jobs core: a jobs table in our own database (transactional outbox) and the worker.

The public API other packages use:

    from enrollpay.jobs import JobContext, enqueue, job_handler, periodic
"""

from enrollpay.jobs.registry import (
    JobContext,
    PermanentJobError,
    UnknownJobKind,
    job_handler,
    periodic,
    registry,
)
from enrollpay.jobs.service import enqueue

__all__ = [
    "JobContext",
    "PermanentJobError",
    "UnknownJobKind",
    "enqueue",
    "job_handler",
    "periodic",
    "registry",
]
