"""Transformations of expressions: reverse mode (`pullback`), forward mode (`differential`) and the
vec form of a linear map (`vec_form`)."""
from .forward import differential  # noqa: F401
from .reverse import pullback  # noqa: F401
from .vec import vec_form  # noqa: F401
