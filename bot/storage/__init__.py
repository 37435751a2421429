"""Storage: SQLAlchemy 2 async tables, engine, locks and the unit of work."""
