"""Exact and semantic response caching (see layer.ResponseCache)."""
