"""The read side: projectors that build read models from events, catch-up and rebuild, queries."""
