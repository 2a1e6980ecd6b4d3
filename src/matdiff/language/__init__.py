"""The expression language in and out: `parse` (text to nodes) and the printers (nodes to text,
Unicode and LaTeX)."""
from .parse import parse, parse_block  # noqa: F401
from .printing import display_size, to_latex, to_text, to_unicode  # noqa: F401
from .matrixcalculus import parse_matrixcalculus  # noqa: F401
