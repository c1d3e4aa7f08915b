"""The REST API and web page over the same Pipeline and Gallery (`vultus serve`)."""

from .app import Settings, create_app

__all__ = ["Settings", "create_app"]
