"""Database: connections and the unit of work, the listener, the embedded server, the models' base
(and an ORM engine for seeding tools)."""
