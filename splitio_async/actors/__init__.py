"""The factory's actors: each one task in the factory's task group, talking over memory streams."""
