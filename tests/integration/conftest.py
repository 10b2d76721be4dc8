"""The integration tests: fixtures (the PostgreSQL ones too) come from tests/conftest.py."""
