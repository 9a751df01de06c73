"""Sandbox fixtures: the demo tenants, clients and one appointment per scenario."""
