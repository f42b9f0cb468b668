"""The ledger: one row per request with tokens, cost, baseline cost and savings."""
