"""Models behind small protocols (`base`), each found by name in one `registry`."""

from .registry import Modality, ModelSpec, Task, create, get, load, register, specs

__all__ = ["Modality", "ModelSpec", "Task", "create", "get", "load", "register", "specs"]
