"""Adapters to the outside world: event store, databases, configuration, identity, clock."""
