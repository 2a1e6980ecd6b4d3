"""Declarations written the way pages write them, for LaTeX input: `\\mathbf{W} \\in \\Re^{m q}`,
`W \\in \\mathbb{R}^{m \\times q}`, `x \\in \\mathbb{R}^n`, `S \\in \\mathbb{S}^n_{++}` (spd), definitions such
as `\\mathbf{D} = \\mathbf{W}\\mathbf{X}`, the vec form of a declared matrix (`w = vec(W)`,
`w = \\operatorname{vec}(W)`: a derivative by w is the derivative by W in vec form), or the language's own
form (`"W: m×q, g: function"`), or a dict.

The names follow the LaTeX names: font wrappers never change a name, `\\lambda` is `lam`.
"""
from __future__ import annotations

import re

from ..dims import VarSpec, parse_declarations
from ..errors import DeclarationError

WRAPPERS = {"mathbf", "boldsymbol", "bm", "mathrm", "mathit", "mathsf", "text", "textbf", "operatorname",
             "mathbb", "mathcal", "vec", "bold", "pmb"}


def name_of_macro(macro: str) -> str:
    return "lam" if macro == "lambda" else "Lam" if macro == "Lambda" else macro


def declarations(where: "str | dict | None") -> tuple[dict[str, VarSpec], dict[str, str]]:
    """The declared variables of `where`, and the definitions it makes (`D = W X`: name -> LaTeX)."""
    if where is None or isinstance(where, dict):
        return parse_declarations(where), {}
    if not isinstance(where, str):
        raise DeclarationError(f"declarations must be a dict or a string, got {type(where).__name__}")
    if "\\in" not in where and "∈" not in where and "=" not in where:
        return parse_declarations(where), {}
    plain, definitions = [], {}
    for item in top_level_split(where, ",;"):
        item = item.strip()
        if not item:
            continue
        if "\\in" in item or "∈" in item:
            plain.append(_latex_declaration(item))
        elif "=" in item and ":" not in item:
            name, _, body = item.partition("=")
            definitions[plain_name(name.strip(), item)] = body.strip()
        else:
            plain.append(item)
    variables = parse_declarations(", ".join(plain))
    vec_forms(variables, definitions)  # a vec(M) of what is not a declared matrix is refused here
    return variables, definitions


# vec(M), \operatorname{vec}(M), \mathrm{vec}\left(M\right), \text{vec}\{M\}: the columns of M stacked
_VEC = re.compile(r"\s*(?:\\(?:operatorname|mathrm|text|textrm|mathit)\s*\{\s*vec\s*\}|\\?vec)\s*"
                  r"(?:\\left\s*)?[({]\s*(?P<of>.*?)\s*(?:\\right\s*)?[)}]\s*")


def vec_forms(variables: dict[str, VarSpec], definitions: dict[str, str]) -> dict[str, str]:
    """The definitions `v = vec(M)` among `definitions`: v -> M. A derivative by v is the derivative by M
    in vec form (d f / d vec(M)). M must be a declared matrix; anything else is a DeclarationError."""
    forms = {}
    for name, body in definitions.items():
        match = _VEC.fullmatch(body)
        if match is None:
            continue
        written = match.group("of")
        try:
            of = plain_name(written, f"{name} = {body}")
        except DeclarationError:
            of = None
        spec = variables.get(of) if of is not None else None
        if spec is None or spec.is_function or len(spec.shape) != 2:
            what = ("a function" if spec.is_function else f"of shape {'×'.join(map(str, spec.shape)) or 'scalar'}") \
                if spec is not None else "not a declared variable"
            matrices = ", ".join(sorted(n for n, s in variables.items() if not s.is_function and len(s.shape) == 2))
            raise DeclarationError(f"{name} = {body.strip()}: vec(…) in a declaration must be of a declared matrix, "
                                   f"and {written.strip() or 'nothing'} is {what} (declared matrices: "
                                   f"{matrices or 'none'})")
        forms[name] = of
    return forms


def top_level_split(text: str, separators: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        depth += char in "{(" and 1 or char in "})" and -1 or 0
        if char in separators and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def plain_name(written: str, item: str) -> str:
    """\\mathbf{W} -> W, \\bm W -> W, W_1 -> W_1, \\Sigma -> Sigma, \\lambda -> lam."""
    name = re.sub(r"\\(?:%s)\s*" % "|".join(sorted(WRAPPERS)), "", written)
    name = re.sub(r"[{}\s]", "", name)
    if name.startswith("\\"):
        name = name_of_macro(name[1:])
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise DeclarationError(f"cannot read the name {written.strip()!r} in the declaration {item!r}")
    return name


def _latex_declaration(item: str) -> str:
    """`W \\in \\mathbb{R}^{m \\times q}` -> "W: m×q"; `S \\in \\mathbb{S}^n_{++}` -> "S: n×n spd"."""
    name, space = re.split(r"\\in\b|∈", item, maxsplit=1)
    name = plain_name(name, item)
    compact = re.sub(r"\s+", " ", space).strip()
    match = re.fullmatch(r"\\?(Re|mathbb\s*\{?\s*[RS]\s*\}?|R|ℝ)\s*(?:\^\s*(\{[^{}]*\}|\w))?"
                         r"\s*(?:_\s*(\{[^{}]*\}|\S+))?", compact)
    if match is None:
        raise DeclarationError(f"cannot read the set in the declaration {item!r}: write it as "
                               "\\mathbb{R}^{m \\times n}, \\Re^{m n} or \\mathbb{S}^n_{++}")
    kind = "S" if "S" in match.group(1) else "R"
    dims = (match.group(2) or "").strip("{}")
    dims = [d for d in re.split(r"\\times|×|,|\s+|\*", dims) if d.strip()]
    if len(dims) == 2 and dims[1].strip() == "1":  # \mathbb{R}^{n \times 1}: a column, a vector of the language
        dims = dims[:1]
    if kind == "S":
        if len(dims) != 1:
            raise DeclarationError(f"{item!r}: a symmetric set is written \\mathbb{{S}}^n")
        properties = {"++": "spd"}.get((match.group(3) or "").strip("{}"), "sym")
        return f"{name}: {dims[0]}×{dims[0]} {properties}"
    return f"{name}: {'×'.join(d.strip() for d in dims)}" if dims else f"{name}: scalar"
