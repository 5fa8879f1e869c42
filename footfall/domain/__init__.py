"""Plain data and rules, no I/O: identity, events, limits, profile fields."""
