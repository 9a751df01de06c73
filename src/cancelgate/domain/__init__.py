"""Pure domain rules: no I/O, tested without a database."""
