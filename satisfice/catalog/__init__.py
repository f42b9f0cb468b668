"""The model catalog: prices, context windows, capabilities and quality priors of routable models."""

from satisfice.catalog.catalog import Catalog, catalog_from_document, load_catalog
from satisfice.catalog.model_info import CatalogError, ModelInfo, parse_entries

__all__ = ["Catalog", "CatalogError", "ModelInfo", "catalog_from_document", "load_catalog", "parse_entries"]
