"""HTTP endpoints (aiohttp.web)."""
