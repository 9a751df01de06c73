"""Durable jobs on PostgreSQL (procrastinate): the app, retries, worker, maintenance."""
