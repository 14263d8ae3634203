"""ORM models and repositories. Repositories take a session and never commit."""
