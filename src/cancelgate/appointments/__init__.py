"""Appointments and their cancellation (Connect API)."""
