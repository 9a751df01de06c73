"""Database: engine, embedded server, models base, migrations."""
