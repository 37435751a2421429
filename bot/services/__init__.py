"""Use cases: each one opens a unit of work, asks the domain, records state, effects and audit, commits."""
