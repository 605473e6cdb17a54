"""Database layer: engine, sessions, base model and the types that behave the same on SQLite
and PostgreSQL (see ARCHITECTURE.md, cross-database rules)."""
