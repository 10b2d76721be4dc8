"""Fixtures for the integration tests: the PostgreSQL ones come from tests/support."""

from tests.support.pg_fixtures import own_postgres_server, postgres_server, postgres_url

__all__ = ["own_postgres_server", "postgres_server", "postgres_url"]
