"""Labelled routing data: the shared benchmark datasets and the canonical JSONL format."""

from satisfice.data.records import Dataset, Outcome, Record

__all__ = ["Dataset", "Outcome", "Record"]
