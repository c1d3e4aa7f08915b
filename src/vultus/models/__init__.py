"""Models behind small protocols, each found by name in `registry`."""

from .registry import ModelSpec, create, get, load, specs

__all__ = ["ModelSpec", "create", "get", "load", "specs"]
