"""Index notation in LaTeX, as matrix products: `D_{ij} = \\sum_k W_{ik} X_{kj}` is `W @ X`, Einstein's
`f_{ij} = w_{ik} x_{kj}` too (a repeated index is summed), `C_{ij} = A_{ki} B_{kj}` is `A.T @ B`.

The entries are chained through their summed indices: each summed index appears twice, each free index
once, and a factor whose indices run the other way is transposed. Reading the tokens is latex.py's.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .. import ops
from ..errors import NotSupportedError
from ..expr import Node

if TYPE_CHECKING:
    from .latex import Token


def free_indices(defined: list[Token]) -> str:
    """The free indices of the left side of `D_{ij} = …` or `y_i = …` ("" when it names no entry)."""
    texts = [(t.kind, t.text) for t in defined] + [("end", "")] * 3
    for at, (_, text) in enumerate(texts[:len(defined)]):
        if text != "_":
            continue
        (kind, first), (_, second), (_, third) = texts[at + 1:at + 4]
        if first == "{" and second.isalpha() and second.islower() and third == "}":
            return second
        if kind == "name" and len(first) == 1 and first.islower():
            return first
    return ""


def contract(out: list[str], summed: set[str], factors: list[tuple[Node, list[str]]]) -> Node:
    """The array with free indices `out` that the product of `factors` (an array and its indices each)
    gives, summed over `summed` (empty: Einstein's convention, the repeated indices)."""
    counts: dict[str, int] = {}
    for _, indices in factors:
        for index in indices:
            counts[index] = counts.get(index, 0) + 1
    repeated = {i for i, n in counts.items() if i not in out}
    if not out and len(factors) == 1 and summed == repeated and all(counts[i] == 1 for i in repeated):
        return ops.sum_(factors[0][0])  # \sum_i x_i, \sum_{ij} W_{ij}
    if any(counts[i] != 2 for i in repeated) or any(counts.get(i, 0) != 1 for i in out) or \
            (summed and summed != repeated):
        raise NotSupportedError("index notation is read where each summed index appears twice and each free "
                                "index once")
    scalars = [array for array, indices in factors if not indices]
    chain = [(array, indices) for array, indices in factors if indices]
    ends = [indices[0] for _, indices in chain if len(indices) == 1]
    current = out[0] if out else (ends[0] if ends else None)
    result: Node | None = None
    if not out and ends:  # x_i A_{ij} y_j: start at a vector
        start = next(item for item in chain if len(item[1]) == 1)
        chain.remove(start)
        result = start[0]
    while chain:
        found = [item for item in chain if current in item[1]]
        if len(found) != 1:
            raise NotSupportedError("these entries do not chain into a matrix product")
        array, indices = found[0]
        chain.remove(found[0])
        if len(indices) == 2 and indices[1] == current:
            array, indices = ops.transpose(array), indices[::-1]
        result = array if result is None else ops.matmul(result, array)
        current = indices[-1] if len(indices) == 2 else None
    finished = current == out[1] if len(out) == 2 else current is None
    if result is None or not finished:
        raise NotSupportedError("these entries do not chain into a matrix product")
    for scalar in scalars:
        result = ops.mul(scalar, result)
    return result
