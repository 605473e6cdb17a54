"""Imports every domain's models so `Base.metadata` knows all tables (Alembic, tests)."""

from enrollpay.abuse import models as _abuse  # noqa: F401
from enrollpay.admin import models as _admin  # noqa: F401
from enrollpay.analytics import models as _analytics  # noqa: F401
from enrollpay.courses import models as _courses  # noqa: F401
from enrollpay.db.base import Base
from enrollpay.enrollments import models as _enrollments  # noqa: F401
from enrollpay.idempotency import models as _idempotency  # noqa: F401
from enrollpay.jobs import models as _jobs  # noqa: F401
from enrollpay.notifications import models as _notifications  # noqa: F401
from enrollpay.payments import models as _payments  # noqa: F401
from enrollpay.platform import models as _platform  # noqa: F401
from enrollpay.platform import outbound_models as _outbound  # noqa: F401
from enrollpay.pricing import models as _pricing  # noqa: F401
from enrollpay.refunds import models as _refunds  # noqa: F401
from enrollpay.sandbox import models as _sandbox  # noqa: F401
from enrollpay.users import models as _users  # noqa: F401
from enrollpay.webhooks import models as _webhooks  # noqa: F401

__all__ = ["Base"]
