"""The pure domain of stack state: aggregates, events, value objects and rules."""
