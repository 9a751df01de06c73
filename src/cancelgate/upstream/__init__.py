"""Upstream systems behind ports: a simulator by default, HTTP adapters by configuration."""
