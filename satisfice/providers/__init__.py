"""Provider adapters: pure dialects (build request, parse response and stream events, map errors)."""
