"""The UX API: TMF646-style appointment cancellation for the operator's e-commerce channel."""
