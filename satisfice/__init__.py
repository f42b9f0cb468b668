"""Satisfice: an OpenAI-compatible gateway that sends each request to the cheapest good-enough model."""

__version__ = "0.1.0"
