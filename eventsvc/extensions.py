"""Flask extensions, created unbound here and bound in :func:`eventsvc.create_app`."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from .core import ratelimit_storage  # (also registers the eventsvc+sqlite:// scheme with limits)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def rate_limit_storage_problem(app) -> str | None:
    """What keeps the rate-limit counters from their storage (``instance/ratelimits.sqlite``, or
    ``EVENTSVC_RATELIMIT_STORAGE_URL``), in words for the log or the console (no key, no password);
    None when it works or limits are off. ``eventsvc serve`` says it at start. Requests are served
    either way: while the storage fails, Flask-Limiter counts in memory (``Config``)."""
    if not app.config.get("RATELIMIT_ENABLED", True) or limiter._storage is None:
        return None
    storage = limiter.storage
    if isinstance(storage, ratelimit_storage.SQLiteStorage):
        problem = storage.problem()
        return f"rate-limit counters cannot be kept in {storage.path} ({problem})" if problem else None
    try:
        working = storage.check()
    except Exception:  # noqa: BLE001 - the storage's failure is the answer
        working = False
    scheme = str(app.config.get("RATELIMIT_STORAGE_URI") or "").split(":", 1)[0]  # not the URL: it may hold a password
    return None if working else f"the rate-limit storage ({scheme}) does not answer"
