"""Use-case unit tests on the in-memory unit of work."""
