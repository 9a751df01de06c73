"""cancelgate: an API platform for telecom cancellations (Connect API and UX API)."""

__version__ = "0.1.0"
