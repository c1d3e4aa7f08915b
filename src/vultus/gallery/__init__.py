"""A persistent gallery of known people: SQLite store + one search index per embedding model."""

from .gallery import EnrollResult, Gallery, thumbnail
from .index import ExactIndex, Index
from .store import IdentityInfo

__all__ = ["EnrollResult", "Gallery", "IdentityInfo", "Index", "ExactIndex", "thumbnail"]
