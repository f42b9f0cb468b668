"""Routing: which deployments may answer a request, in which order, and how attempts run."""
