"""The nbn: appointment cancellability and cancellation."""
