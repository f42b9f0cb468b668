"""HTTP API surface translations (request/response shapes other than OpenAI's)."""
