"""Alembic environment: the URL comes from TRADEWIRE_DATABASE_URL (or the caller's config)."""

from alembic import context
from sqlalchemy import create_engine

from app.config import get_settings, sqlalchemy_url
from app.db import Base
from app.persistence import models  # noqa: F401  (registers the tables)

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().require_database_url()

connectable = config.attributes.get("connection")
if connectable is None:
    engine = create_engine(sqlalchemy_url(url))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
else:
    context.configure(connection=connectable, target_metadata=Base.metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
