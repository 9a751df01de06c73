"""Tenants, API clients, the OAuth 2.0 token endpoint and request principals."""
