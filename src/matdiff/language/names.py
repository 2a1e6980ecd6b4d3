"""How a name is written in math: `W1` is W₁ / `W_{1}`, `alpha` is α / `\\alpha`, `x_hat` is x̂ / `\\hat{x}`.

A name of the language is an identifier; a person writing the same variable on paper writes its
trailing digits as a subscript, a Greek letter's name as the letter (`lam` too, since `lambda` is a
Python keyword: the reading of LaTeX in ../shared/corpus/latex says the same), `_hat`, `_bar`,
`_tilde`, `_dot` as accents, `_star` and `_prime` as marks, and any other `_part` as a subscript
(`W_out` is W_out / `W_{\\mathrm{out}}`). A name that fits none of these (`x2y`, `logits`) is written
as it is, upright in LaTeX when it has several letters. Only Unicode and LaTeX use these spellings;
the text form writes the name itself. This module owns those spellings, nothing else.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

GREEK = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "zeta": "ζ", "eta": "η",
    "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π",
    "rho": "ρ", "sigma": "σ", "tau": "τ", "upsilon": "υ", "phi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ",
    "Upsilon": "Υ", "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
}
SHORT_GREEK = {"lam": "lambda", "eps": "epsilon"}  # what people write where the name is a keyword or long
ACCENTS = {"hat": ("\u0302", r"\hat"), "bar": ("\u0304", r"\bar"), "tilde": ("\u0303", r"\tilde"),
           "dot": ("\u0307", r"\dot")}
MARKS = {"star": ("*", "^{*}"), "prime": ("′", "'")}
_SUBSCRIPT = str.maketrans("0123456789aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")
_LETTERS_DIGITS = re.compile(r"([A-Za-z]+?)([0-9]+)\Z")
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class _Parts:
    base: str  # letters: a Greek letter's name or the name's head
    subscripts: tuple[str, ...]  # digits, a letter, a Greek letter's name or a word
    accent: str | None
    mark: str | None


def _greek(word: str) -> str | None:
    word = SHORT_GREEK.get(word, word)
    return word if word in GREEK else None


@lru_cache(maxsize=4096)
def _parts(name: str) -> _Parts | None:
    """The name taken apart as a person reads it, or None where it is written as it is."""
    if not _IDENTIFIER.match(name):
        return None
    head, *rest = name.split("_")
    if any(not part for part in rest):
        return None
    subscripts: list[str] = []
    found = _LETTERS_DIGITS.match(head)
    if found:
        head, subscripts = found.group(1), [found.group(2)]
    if not head.isalpha() or (len(head) > 1 and _greek(head) is None and not subscripts and not rest):
        return None  # x2y, logits: written as they are
    accent = mark = None
    for part in rest:
        if part in ACCENTS and accent is None and mark is None:
            accent = part
        elif part in MARKS and mark is None:
            mark = part
        elif part.isalnum() and mark is None:
            subscripts.append(part)
        else:
            return None
    return _Parts(head, tuple(subscripts), accent, mark)


# ---- Unicode --------------------------------------------------------------------------------------


def unicode_name(name: str) -> str:
    """W1 → W₁, alpha → α, lam → λ, x_hat → x̂, W_i → Wᵢ, W_out → W_out (a word stays a word)."""
    parts = _parts(name)
    if parts is None:
        return name
    greek = _greek(parts.base)
    base = GREEK[greek] if greek else parts.base
    if parts.accent:
        if len(base) > 1:
            return name
        base += ACCENTS[parts.accent][0]
    text = base
    for sub in parts.subscripts:
        letter = _greek(sub)
        shown = GREEK[letter] if letter else sub
        translated = shown.translate(_SUBSCRIPT)
        short = sub.isdigit() or len(sub) == 1  # W₁, xᵢ; a word stays a word: W_out
        text += translated if short and all(not c.isascii() for c in translated) else "_" + shown
    if parts.mark:
        text += MARKS[parts.mark][0]
    return text


def unicode_subscripted(name: str) -> bool:
    """Whether the name's Unicode spelling already ends in a subscript (W₁): indices then need brackets."""
    parts = _parts(name)
    return parts is not None and bool(parts.subscripts)


# ---- LaTeX ----------------------------------------------------------------------------------------


def _latex_word(word: str) -> str:
    greek = _greek(word)
    if greek:
        return "\\" + greek
    if len(word) == 1 or word.isdigit():
        return word
    return rf"\mathrm{{{word}}}"


def latex_name(name: str, indices: str = "") -> str:
    """W1 → W_{1}, alpha → \\alpha, x_hat → \\hat{x}, W_out → W_{\\mathrm{out}}, logits → \\mathrm{logits};
    `indices` join the name's own subscript (W1 indexed by kl is W_{1,kl})."""
    parts = _parts(name)
    if parts is None:
        if not _IDENTIFIER.match(name):
            shown = name.replace("_", r"\_")
        else:
            shown = rf"\mathrm{{{name.replace('_', chr(92) + '_')}}}" if len(name) > 1 else name
        return shown + (f"_{{{indices}}}" if indices else "")
    base = _latex_word(parts.base)
    if parts.accent:
        base = ACCENTS[parts.accent][1] + "{" + base + "}"
    subscripts = [_latex_word(s) for s in parts.subscripts] + ([indices] if indices else [])
    text = base + ("_{" + ",".join(subscripts) + "}" if subscripts else "")
    if parts.mark:
        text += MARKS[parts.mark][1]
    return text
