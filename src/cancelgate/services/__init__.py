"""Services and their cancellation requests (Connect API service-cancellation family)."""
