"""Fake upstream providers for end-to-end tests."""
