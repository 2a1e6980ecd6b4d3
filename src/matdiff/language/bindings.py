"""Named intermediates: an expression written as `where` bindings of the subexpressions it repeats.

An answer is a DAG; printed as a tree, every shared subexpression is written again at each use, and a
deep network's Hessian runs to megabytes. Here it is written as a few assignments instead, as a
textbook would:

    Z = X @ W
    P = softmax(Z, axis=1)
    X.T @ (P - Y)

The last line is the expression itself; `language.parse.parse_block` reads the block back to the very
node it came from. What is named is read off the DAG: a node used more than once that is not tiny (a
leaf, a leaf transposed, a number, a negated leaf, an elementwise product of two leaves), a node and its
transpose counting as one quantity (the other spelt `Z.T`); the lines come in dependency order. Names
follow the node's role: Z for a pre-activation (a product an elementwise function or a softmax is
applied to), A for the activation of one, P for a softmax, r (R for a matrix) for a residual (a
difference inside a norm or a square), dP for the cotangent a softmax is pulled back with, μ for a mean,
σ² for a variance (plus ε), σ for a standard deviation sqrt(var + ε), x̂ for a normalised input (x −
μ)/σ; anything else T1, T2, .... A standardized x̂ is named wherever it is written, and a quotient by a
power of σ = sqrt(var(x) + ε) is written through it where that reads back (x̂ ⊙ mean(g ⊙ x̂) for (x − μ)
⊙ mean(g ⊙ (x − μ)) / σ², as the normalisation papers write it). A role shared by several nodes numbers
them (Z1, Z2, ...); no name is a variable's, a dimension's or a function's of the language.

Each line's right-hand side is the printer's own display (`printing._Displayer`), built bottom-up over
the topological order with the named nodes as leaves, so that the size of what is printed is linear in
the size of the DAG at any depth. This module owns the choice of names and the bound forms; the
spellings of everything else are the printer's.
"""
from __future__ import annotations

import functools
import keyword
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..dims import dim_symbols
from ..expr import Node, make, topological
from ..ops import OPS, const, div, is_symmetric, matmul, mean, mul, power, sqrt, sum_, transpose
from ..ops.algebra.chains import note_run, subchain
from ..ops.algebra.transposition import graph_work, known_transpose
from ..ops.reductions import deviation_inside, is_variance, keeps, standardization
from .printing import Disp, _bin, _chain, _Displayer, _LatexRenderer, _num, _plain, _t, _TextRenderer, _UnicodeRenderer

# names a binding never takes beyond the variables, dimensions and functions: the language's constants,
# the module prefixes NumPy code is pasted with, and Python's own words
_RESERVED = frozenset({"pi", "np", "numpy", "math", "md", "matdiff", "linalg", "e", "inf", "nan"})
_SUBSCRIPT_DIGITS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_SOFTMAXES = ("softmax", "log_softmax", "logsumexp")
_LOSSES = ("norm2", "norm1", "square", "abs")
_ACTIVATIONS = ("tanh", "sigmoid", "relu", "gelu", "silu", "softplus")  # A = g(Z) is a layer's output
_ROLE_PARENTS = frozenset({"mul", "sum", "pow", "power", *_LOSSES, *_SOFTMAXES})  # and functions elementwise


@dataclass
class Name:
    """A bound name as each format writes it: `sigma` / σ / \\sigma. Filled in once the names are chosen
    (the displays are built before, with the name as a leaf of size 2 whatever it reads)."""

    text: str = ""
    unicode: str = ""
    latex: str = ""


@dataclass(frozen=True)
class Bound:
    """An expression as bindings: each (name, right-hand side) in dependency order, then the expression."""

    lines: tuple[tuple[Name, Disp], ...]
    answer: Disp
    # how each named node (and each other spelling of one: Z.T, sigma ** 2) is shown: (as built, transposed)
    leaves: dict[Node, tuple[Disp, Disp | None]] = field(default_factory=dict, compare=False)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name.text for name, _ in self.lines)

    def rows(self, form: str) -> list[tuple[str, str]]:
        """Each binding as (name, right-hand side), in "text", "unicode" or "latex"."""
        renderer = _RENDERERS[form]
        return [(getattr(name, form), renderer.render(shown)) for name, shown in self.lines]

    def render(self, node: Node, form: str) -> str:
        """Any expression in "text", "unicode" or "latex", the named parts written by their names: how a
        derivation's steps say what the answer's bindings name. (Math to read, not a block to parse.)"""
        node, _ = _standardized(node, named=self.leaves)  # x̂ where the bindings name it
        displayer = _Displayer()
        for named, (shown, shown_t) in self.leaves.items():
            displayer.memo[named] = shown
            if shown_t is not None:
                displayer.memo_t[named] = shown_t
        for part in topological(node):  # bottom-up, as the printer does
            displayer.best(part)
            displayer.best_t(part)
        return _RENDERERS[form].render(displayer.best(node))

    def text(self) -> str:
        """Assignments in the language, the last line the expression (`parse_block` reads it back)."""
        lines = [f"{name.text} = {_TEXT.render(shown)}" for name, shown in self.lines]
        return "\n".join(lines + [_TEXT.render(self.answer)])

    def unicode(self) -> str:
        lines = [f"{name.unicode} = {_UNICODE.render(shown)}" for name, shown in self.lines]
        return "\n".join(lines + [_UNICODE.render(self.answer)])

    def latex(self) -> str:
        """An aligned block: `Z &= X W` per binding, the expression last, aligned with the right-hand sides.
        Without bindings, the expression alone."""
        answer = _LATEX.render(self.answer)
        if not self.lines:
            return answer
        rows = [f"{name.latex} &= {_LATEX.render(shown)}" for name, shown in self.lines]
        rows.append(r"&\phantom{{}={}}" + answer)
        return r"\begin{aligned} " + r" \\ ".join(rows) + r" \end{aligned}"


def written_size(root: Node) -> int:
    """How many nodes the expression has written out as a tree (shared parts counted at each use): a
    lower bound on the length of its one-line text, found without printing it."""
    size: dict[Node, int] = {}
    for node in topological(root):
        size[node] = 1 + sum(map(size.__getitem__, node.args))
    return size[root]


# ---- which nodes are named -------------------------------------------------------------------------


def _tiny(node: Node) -> bool:
    """Too small to name: a leaf, a number, a leaf transposed or negated, an elementwise product of two
    leaves (γ ⊙ g reads at a glance), a function of dimensions and numbers alone (sqrt(d))."""
    if not node.args:
        return True
    if node.op == "mul" and len(node.args) == 2 and not any(arg.args for arg in node.args):
        return True
    if node.op == "transpose" and not node.args[0].args:
        return True
    if node.op == "mul" and len(node.args) == 2 and node.args[0].op == "const" and not node.args[1].args:
        return True
    return all(not arg.args and arg.op != "var" for arg in node.args)


def bind(root: Node, reserved=frozenset(), context: Node | None = None) -> Bound:
    """`root` as bindings of the subexpressions it repeats. `reserved`: names the bindings must not take
    (the declared variables and dimensions); `context`: an expression whose DAG also tells a node's role
    (a derivative's function: there a difference is inside a norm, a product inside a tanh)."""
    return _bind(root, reserved, context)


def _bind(root: Node, reserved, context: Node | None) -> Bound:
    # The transposes the printer asks for are held while the bindings are chosen: the constructors memoise
    # them only weakly, and a deep answer's would be built again at each display.
    with graph_work():
        return _bound(root, reserved, context)


def _bound(root: Node, reserved, context: Node | None) -> Bound:
    base = topological(root)
    rewritten, standardized = _standardized(root, order=base)
    if rewritten is not root:  # x̂ written in: the graph to bind is another one
        root, base = rewritten, topological(rewritten)
    split = shared_runs(base)
    order = _order(root, split)

    def parts(node: Node) -> tuple[Node, ...]:
        return split.get(node, node.args)

    spelt = _aliases(order, root)
    # how often each quantity is used: a use by another spelling of the same quantity does not count
    count: Counter = Counter()
    for node in order:
        mine = spelt[node][0] if node in spelt else node
        for arg in parts(node):
            quantity = spelt[arg][0] if arg in spelt else arg
            if quantity is not mine:
                count[quantity] += 1
    # a standardized x̂ is named wherever it is written, as the papers define it with the forward pass
    named = [node for node in order if (count[node] >= 2 or node in standardized) and not _tiny(node)
             and node is not root]
    named += [rep for rep in dict.fromkeys(rep for rep, _ in spelt.values()) if rep not in named and count[rep] >= 2]
    # Display choices (a sum's coefficient taken out, a transposed spelling) can leave a name used once;
    # such a name is inlined and the display built again. A line nested deeper than _DEPTH names a part of
    # itself even if used once, so that every line stays short enough to read (and to parse).
    for attempt in range(4):
        deep = _too_deep(order, parts, set(named), spelt, root)
        labels = {node: Name() for node in named + deep}
        lines, answer, leaves = _displays(order, labels, spelt, split)
        used = _references([shown for _, shown in lines] + [answer])
        once = {node for node in named if used[id(labels[node])] < 2 and node not in standardized}
        if not once or attempt == 3:
            break
        named = [node for node in named if node not in once]
    _choose_names([node for node, _ in lines], labels, reserved | _variable_names(order), order, context)
    return Bound(tuple((labels[node], shown) for node, shown in lines), answer, leaves)


# ---- standardized inputs: (x − mean(x)) / σ written x̂ ----------------------------------------------


def _standardized(root: Node, named=None, order: list[Node] | None = None) -> tuple[Node, frozenset]:
    """`root` with the quotients by powers of σ = sqrt(var(x) + ε) that have x − mean(x) among their factors
    written through the standardized x̂ = (x − mean(x)) / σ, as the normalisation papers write them:
    (x − mean x) ⊙ g / σ is x̂ ⊙ g, (x − mean x) ⊙ mean(a ⊙ (x − mean x)) / σ² is x̂ ⊙ mean(a ⊙ x̂), each x − mean x
    taking one σ (one inside a mean or a sum along axes σ is constant on). Returns the rewritten root and the
    x̂ nodes it uses (only those in `named`, where that is given). The nodes built are a display's, made
    without the constructors (which merge the quotients back into one); each is kept only where the
    constructors read it back as the node it stands for, so that `parse_block` of the bound text gives
    `root` again. `order`: `topological(root)`, where the caller has it."""
    order = topological(root) if order is None else order
    found = {}  # variance v -> (x − mean(x), x̂)
    for node in order:
        if is_variance(node):
            pair = _standardization(node)
            if pair is not None and (named is None or pair[1] in named):
                found[node] = pair
    if not found:
        return root, frozenset()
    rewritten: dict[Node, Node] = {}
    used = set()
    for node in order:
        shown = _through_hat(node, found, rewritten, used)
        if shown is None and any(arg in rewritten for arg in node.args):
            shown = make(node.op, tuple(rewritten.get(arg, arg) for arg in node.args), node.params, node.shape)
        if shown is not None:
            rewritten[node] = shown
    return rewritten.get(root, root), frozenset(used)


def _standardization(v: Node) -> tuple[Node, Node] | None:
    """(x − mean(x), x̂) for a variance v = var(x) + ε that has a standard deviation σ = sqrt(v)."""
    found = standardization(v)
    if found is None:
        return None
    deviation, sigma = found
    hat = div(deviation, sigma)
    return (deviation, hat) if hat.op == "div" and hat.args == (deviation, sigma) else None


def _through_hat(node: Node, found, rewritten: dict[Node, Node], used: set) -> Node | None:
    """A quotient a / v ** k (or s * (a / v ** k), a scalar s in front) with factors x − mean(x) in a (v a
    variance with a standardization) written with x̂, or None where there is none to write or the parser
    would not read the display back as `node`."""
    outside: tuple[Node, ...] = ()
    quotient = node
    if node.op == "mul" and sum(f.op == "div" for f in node.args) == 1:
        quotient = next(f for f in node.args if f.op == "div")
        outside = tuple(f for f in node.args if f is not quotient)
    if quotient.op != "div":
        return None
    numerator, d = quotient.args
    base, k = ((d.args[0], 0.5) if d.op == "sqrt" else
               (d.args[0], d.args[1].params[0]) if d.op == "pow" and d.args[1].op == "const" else (d, 1.0))
    if base not in found:
        return None
    base_k = k
    deviation, hat = found[base]
    sigma = hat.args[1]
    numbers = [f for f in outside if f.op == "const"]
    factors = [f for f in outside if f.op != "const"] + list(numerator.args if numerator.op == "mul" else (numerator,))
    shown = []
    for factor in factors:
        parts = deviation_inside(factor, deviation, sigma) if k >= 0.5 else None
        if k >= 0.5 and factor is deviation:
            shown.append(hat)
        elif parts is not None:
            inner = tuple(hat if p is deviation else rewritten.get(p, p) for p in parts)
            product = inner[0] if len(inner) == 1 else make("mul", inner, (), factor.args[0].shape)
            shown.append(make(factor.op, (product,), factor.params, factor.shape))
        else:
            shown.append(rewritten.get(factor, factor))
            continue
        k -= 0.5
    if k == base_k:
        return None  # no x − mean(x) to take a σ
    # x̂ first where the parser reads that back as the same node, as the papers write x̂ ⊙ mean(…)
    first = [f for f in shown if f is hat] + [f for f in shown if f is not hat]
    for order in (first, shown):
        top = order[0] if len(order) == 1 else make("mul", tuple(order), (), quotient.args[0].shape)
        display = top if k == 0 else make("div", (top, power(base, const(k))), (), quotient.shape)
        if numbers:
            display = make("mul", (*numbers, display), (), node.shape)
        if display.shape == node.shape and _read_back(display, rewritten) is node:
            used.add(hat)
            return display
    return None


_READERS = {"mul": lambda node, args: functools.reduce(mul, args), "div": lambda node, args: div(*args),
            "mean": lambda node, args: mean(args[0], node.params[0], keeps(node)),
            "sum": lambda node, args: sum_(args[0], node.params[0], keeps(node))}


def _read_back(shown: Node, rewritten: dict[Node, Node]) -> Node:
    """The node the constructors build from a display made by `_through_hat` (its nodes of the four kinds
    it makes, built again through the constructors; anything else, canonical or rewritten before, is what
    it stands for)."""
    originals = {display: node for node, display in rewritten.items()}
    memo: dict[Node, Node] = {}

    def read(part: Node) -> Node:
        if part in originals:
            return originals[part]
        if part.op not in _READERS or part in memo:
            return memo.get(part, part)
        memo[part] = _READERS[part.op](part, [read(arg) for arg in part.args])
        return memo[part]

    return read(shown)


_DEPTH = 24  # the most operations one line nests (Python's parser stops near 200 parentheses)


def _too_deep(order: list[Node], parts, named: set, spelt, root: Node) -> list[Node]:
    """Nodes to name so that no line nests more than _DEPTH operations, bottom-up."""
    seen: dict[Node, int] = {}  # how deep a node's display nests where it is used
    deep = []
    for node in order:
        alias = spelt.get(node)
        if alias is not None and alias[0] in named:
            seen[node] = 2
            continue
        depth = 1 + max((seen.get(a, 0) for a in parts(node)), default=0)
        if node in named:
            depth = 1
        elif depth > _DEPTH and node is not root and node.args:
            deep.append(node)
            depth = 1
        seen[node] = depth
    return deep


def _order(root: Node, split: dict[Node, tuple[Node, ...]]) -> list[Node]:
    """Every node under `root` once, its parts (its arguments, or for a split product its runs) first."""
    return topological(root, lambda node: split.get(node, node.args))


def shared_runs(order: list[Node], reads_back: bool = True) -> dict[Node, tuple[Node, ...]]:
    """Long products that end alike, split where they part: the Hessian of a deep network has products
    W7 @ D6 @ W6 @ ... @ D1 and W6 @ D5 @ ... @ D1, each one node with all its factors; written out they
    grow with the square of the depth. A run of factors that two products end with (or begin with) is a
    product of its own, so W7 @ D6 @ S6 with S6 = W6 @ D5 @ ... @ D1 (named, as it is used twice).
    product -> its parts; with `reads_back`, split only where the constructors read the parts back as the
    product (a text must; code, which computes the same product in another grouping, need not)."""
    chains = [node for node in order if node.op == "matmul" and len(node.args) >= 3]
    split: dict[Node, tuple[Node, ...]] = {}
    for from_right in (True, False):
        for chain, runs in _common_runs(chains, from_right).items():
            node = chain
            for length in runs:  # the longest shared run first: node = head @ run (or run @ tail)
                if node in split:
                    break
                if from_right:
                    run = subchain(chain, len(chain.args) - length, len(chain.args))
                    pieces = (*node.args[:len(node.args) - length], run)
                else:
                    run = subchain(chain, 0, length)
                    pieces = (run, *node.args[length:])
                if reads_back and _product(pieces) is not node:
                    break
                split[node] = pieces
                note_run(node, run, len(node.args) - length if from_right else 0)  # its transpose from the run's
                node = run
    return split


def _common_runs(chains: list[Node], from_right: bool) -> dict[Node, Iterator[int]]:
    """For each product, the lengths (longest first, shorter than the product) of the runs of factors at
    its right end (or left end) that another product also ends with: a trie of the factors, walked from
    that end. A product whose walk begins as a shorter one's did (all but a few factors at the far end,
    `_REUSED`) takes that one's path, found by its factors as a tuple, and walks on from there: a deep
    network's products, each holding all the layers below, are then read a few factors each, not whole."""
    children: dict[tuple[int, Node], int] = {}
    fanout: Counter = Counter()
    ends: Counter = Counter()
    paths: dict[Node, list[int]] = {}
    begun: dict[tuple, tuple[list[int], int]] = {}  # a walk's first factors -> (a path through them, their count)
    first = Counter(c.args[-1 if from_right else 0] for c in chains)
    for chain in sorted(chains, key=lambda c: len(c.args)):
        if first[chain.args[-1 if from_right else 0]] < 2:  # the only product that ends (begins) so: none shares
            continue
        walk = chain.args[::-1] if from_right else chain.args
        path: list[int] = []
        # a beginning a shorter walk had, the shortest first: any known one gives the same path (the factors past
        # it are walked through places that exist), and where products differ by a few factors, as a deep
        # network's do by a layer, the shortest is the one known, so the longer ones are not sliced and hashed
        for dropped in range(_REUSED - 1, -1, -1):
            known = begun.get(walk[:len(walk) - dropped]) if dropped < len(walk) else None
            if known is not None:
                path = known[0][:known[1]]
                break
        place = path[-1] if path else 0
        for factor in walk[len(path):]:
            step = children.get((place, factor))
            if step is None:
                step = children[(place, factor)] = len(children) + 1
                fanout[place] += 1
            place = step
            path.append(place)
        ends[place] += 1
        paths[chain] = path
        for dropped in range(min(_REUSED, len(walk))):  # the path by reference: copied only where taken
            begun.setdefault(walk[:len(walk) - dropped], (path, len(walk) - dropped))
    return {chain: _shared_lengths(paths[chain], fanout, ends) for chain in chains if chain in paths}


_REUSED = 4  # how many factors at its far end a product may have beyond a beginning walked before


def _shared_lengths(path: list[int], fanout: Counter, ends: Counter) -> Iterator[int]:
    """The lengths of the runs another product shares, longest first, read from the end only as far as asked."""
    for i in range(len(path) - 2, 0, -1):
        place = path[i]
        if fanout[place] >= 2 or ends[place] >= 1:
            yield i + 1


def _product(pieces) -> Node:
    """The product as the parser builds `a @ b @ c`: left to right."""
    node = pieces[0]
    for piece in pieces[1:]:
        node = matmul(node, piece)
    return node


def _aliases(order: list[Node], root: Node) -> dict[Node, tuple[Node, object]]:
    """Nodes that are another node's spelling, member -> (that node, how): "T" for a transpose (a matrix
    and its transpose both in the DAG: the one first in dependency order is named, the other is `Z.T`),
    or a power k: var + ε, (var + ε) ** e and sqrt(var + ε) are σ ** 2, σ ** 2e and σ, for σ = sqrt(var + ε)
    (the constructors read σ ** k back as those very nodes)."""
    inside = set(order)
    spelt: dict[Node, tuple[Node, object]] = {}
    for node in order:
        if node is root or node in spelt:
            continue
        if node.ndim == 2 and not _tiny(node) and not is_symmetric(node):
            flipped = _built_transpose(node)
            if flipped is not None and flipped in inside and flipped is not root and flipped not in spelt:
                spelt[flipped] = (node, "T")
        if _is_variance(node):
            sigma = sqrt(node)
            members = [(node, 2.0)] + [(p, 2 * p.args[1].params[0]) for p in order
                                       if p.op == "pow" and p.args[0] is node and p.args[1].op == "const"]
            members = [(m, k) for m, k in members if power(sigma, const(k)) is m and m is not root]
            if sigma in inside and sigma is not root:
                members.append((sigma, 1.0))
            if len(members) > 1 or (members and sigma not in inside):
                for member, k in members:
                    spelt[member] = (sigma, k)
    return spelt


def _built_transpose(node: Node) -> Node | None:
    """The transpose of `node` if it exists already: a transpose node's argument, or the transpose the
    constructors built and memoised on the node (a transpose in the DAG was built so). Nothing is built
    here: transposing every long product of a deep Hessian would cost more than printing it."""
    if node.op == "transpose":
        return node.args[0]
    found = known_transpose(node)
    return found if found is not node else None


def _displays(order: list[Node], labels: dict[Node, Name], spelt: dict[Node, tuple[Node, object]],
              split: dict[Node, tuple[Node, ...]]):
    """The printer's display of each named node and of the root, the named nodes shown as names (a split
    product as the product of its parts). A name is defined where the first of its spellings comes in
    dependency order."""
    displayer = _Displayer()
    lines = []
    defined = set()
    leaves = []

    def define(node: Node) -> Disp:
        lines.append((node, displayer.memo[node] if node in displayer.memo else displayer.best(node)))
        defined.add(node)
        leaf = _leaf(labels[node], node.ndim)
        displayer.memo[node] = leaf
        displayer.memo_t[node] = _shaped(_t(leaf), node.ndim) if _flips(node) else leaf
        return leaf

    for node in order[:-1]:
        alias = spelt.get(node)
        if alias is not None and alias[0] in labels and alias[0] is not node:
            named, how = alias
            leaf = displayer.memo[named] if named in defined else define(named)
            if how == "T":
                shown = _shaped(_t(leaf), node.ndim)
                displayer.memo_t[node] = leaf
            else:
                shown = _shaped(_bin("pow", leaf, _num(how)), node.ndim) if how != 1.0 else leaf
                displayer.memo_t[node] = _shaped(_t(shown), node.ndim) if _flips(node) else shown
            displayer.memo[node] = shown
            leaves.append(node)
            continue
        pieces = split.get(node)
        if pieces is not None:
            shown = _shaped(_chain("matmul", [displayer.best(p) for p in pieces]), node.ndim)
            displayer.memo[node] = shown
            displayer.memo_t[node] = _shaped(_t(shown), node.ndim) if _flips(node) else shown
        if node in labels and node not in defined:
            define(node)
            continue
        displayer.best(node)
        displayer.best_t(node)
    shown = {node: (displayer.memo[node], displayer.memo_t.get(node)) for node in [*defined, *leaves]}
    return lines, displayer.best(order[-1]), shown


def _flips(node: Node) -> bool:
    return node.ndim == 2 and not is_symmetric(node)


def _shaped(shown: Disp, ndim: int) -> Disp:
    """The display with the number of axes of what it shows (dataclasses.replace, without its overhead)."""
    return Disp(shown.kind, shown.items, shown.value, shown.size, shown.cost, ndim)


def _leaf(label: Name, ndim: int) -> Disp:
    return _shaped(_plain("name", value=label, size=2), ndim)


def _references(displays: list[Disp]) -> Counter:
    """How often each name is written in the displays (by the id of its label)."""
    found: Counter = Counter()
    stack: list = list(displays)
    while stack:
        item = stack.pop()
        if isinstance(item, Disp):
            if item.kind == "name" and isinstance(item.value, Name):
                found[id(item.value)] += 1
            stack.extend(item.items)
        elif isinstance(item, tuple):
            stack.extend(item)
    return found


def _variable_names(order: list[Node]) -> set[str]:
    names = set()
    for node in order:
        if node.op == "var":
            names.add(node.params[0])
        for d in node.shape:
            names.update(map(str, dim_symbols((d,))))
    return names


# ---- what each named node is called ----------------------------------------------------------------

# role -> (text, Unicode, LaTeX) of its name; "hat" is spelt from the normalised variable
_SPELLINGS = {
    "Z": ("Z", "Z", "Z"), "A": ("A", "A", "A"), "P": ("P", "P", "P"), "r": ("r", "r", "r"),
    "R": ("R", "R", "R"), "mu": ("mu", "μ", r"\mu"), "sigma": ("sigma", "σ", r"\sigma"),
    "sigma2": ("sigma2", "σ²", r"\sigma^{2}"), "dP": ("dP", "dP", r"\mathrm{d}P"),
}


def _choose_names(named: list[Node], labels: dict[Node, Name], reserved, order: list[Node],
                  context: Node | None) -> None:
    taken = set(reserved) | _RESERVED | _function_names()
    parents = _parents(order, context)
    groups: dict[tuple, list[Node]] = defaultdict(list)
    for node in named:
        groups[_role(node, parents)].append(node)
    plain = list(groups.pop(None, []))
    for spelling, nodes in groups.items():
        text, unicode, latex = spelling
        if len(nodes) == 1:
            chosen = [(text, unicode, latex)]
        else:  # Z1, Z2, ... in dependency order; sigma2_1 where the name ends in a digit
            joint = "_" if text[-1].isdigit() else ""
            chosen = [(f"{text}{joint}{i}", unicode + str(i).translate(_SUBSCRIPT_DIGITS), f"{latex}_{{{i}}}")
                      for i in range(1, len(nodes) + 1)]
        if any(not _free(t, taken) for t, _, _ in chosen):
            plain.extend(nodes)  # the role's name is a variable's: these are T1, T2, ... instead
            continue
        for node, (t, u, la) in zip(nodes, chosen):
            taken.add(t)
            labels[node].text, labels[node].unicode, labels[node].latex = t, u, la
    position = {node: i for i, node in enumerate(order)}
    number = 0
    for node in sorted(plain, key=position.__getitem__):
        number += 1
        while not _free(f"T{number}", taken):
            number += 1
        labels[node].text, labels[node].unicode, labels[node].latex = \
            f"T{number}", "T" + str(number).translate(_SUBSCRIPT_DIGITS), f"T_{{{number}}}"
        taken.add(f"T{number}")


def _free(name: str, taken) -> bool:
    return name not in taken and not keyword.iskeyword(name) and name.isidentifier()


def _function_names() -> set[str]:
    from .parse import CALLS
    return set(CALLS)


def _parents(order: list[Node], context: Node | None) -> dict[Node, list[Node]]:
    """node -> the nodes that use it, among those a role is read from (`_role`): a product, a sum, a power, a
    loss, a softmax or a function applied elementwise. The others, a deep Hessian's long `@` chains above all,
    are passed over: a chain's factors are no role's evidence, and reading them cost the square of the depth."""
    parents: dict[Node, list[Node]] = defaultdict(list)
    seen = set()
    for node in order + (topological(context) if context is not None else []):
        if node in seen or not _tells_a_role(node):
            continue
        seen.add(node)
        for arg in node.args:
            parents[arg].append(node)
    return parents


def _tells_a_role(parent: Node) -> bool:
    op = parent.op
    return op in _ROLE_PARENTS or (len(parent.args) == 1 and OPS[op].elementwise)


def _role(node: Node, parents) -> tuple | None:
    """The textbook's name for what `node` is, as (text, Unicode, LaTeX), or None."""
    op = node.op
    if op == "softmax":
        return _SPELLINGS["P"]
    if op == "std" or (op == "sqrt" and _is_variance(node.args[0])):
        return _SPELLINGS["sigma"]
    if _is_variance(node):
        return _SPELLINGS["sigma2"]
    if op == "mean":
        return _SPELLINGS["mu"]
    centred = _normalised(node)
    if centred is not None:
        return _hat(centred)
    if any(_reaches_softmax(p, node, parents) for p in parents.get(node, ())):
        return _SPELLINGS["dP"]
    if _is_difference(node) and any(_is_loss(p, node) for p in parents.get(node, ())):
        return _SPELLINGS["R" if node.ndim == 2 else "r"]
    if _is_product(node) and any(_applies_elementwise(p, node) for p in parents.get(node, ())):
        return _SPELLINGS["Z"]
    if node.op in _ACTIVATIONS and _is_product(node.args[0]):
        return _SPELLINGS["A"]
    return None


def _is_variance(node: Node) -> bool:
    """var(x) or var(x) + ε."""
    return is_variance(node)


def _is_difference(node: Node) -> bool:
    return node.op == "add" and any(_negative(t) for t in node.args) and not all(_negative(t) for t in node.args)


def _negative(term: Node) -> bool:
    return term.op == "mul" and term.args[0].op == "const" and term.args[0].params[0] < 0


def _normalised(node: Node) -> Node | None:
    """(x − μ) / σ: the variable x, or None."""
    if node.op == "div" and _is_difference(node.args[0]):
        scale = node.args[1]
        if scale.op == "std" or (scale.op == "sqrt" and _is_variance(scale.args[0])):
            positive = [t for t in node.args[0].args if not _negative(t)]
            if len(positive) == 1:
                return positive[0]
    return None


def _hat(x: Node) -> tuple:
    letter = x.params[0] if x.op == "var" and len(x.params[0]) == 1 and x.params[0].isascii() else "x"
    return f"{letter}_hat", letter + "\u0302", rf"\hat{{{letter}}}"


def _is_product(node: Node) -> bool:
    """X @ W, or X @ W + b."""
    return node.op == "matmul" or (node.op == "add" and any(t.op == "matmul" for t in node.args))


def _applies_elementwise(parent: Node, arg: Node | None) -> bool:
    if arg is None or not parent.args or parent.args[0] is not arg:
        return False
    return parent.op in _SOFTMAXES or (OPS[parent.op].elementwise and len(parent.args) == 1)


def _reaches_softmax(parent: Node, node: Node, parents) -> bool:
    """Whether `node` is the cotangent dP a softmax P is pulled back with, P ⊙ (dP − sum(dP ⊙ P, axis)): it
    is multiplied by the softmax inside a sum (the attention papers' dP = dO Vᵀ)."""
    return parent.op == "mul" and len(parent.args) == 2 and any(a.op == "softmax" for a in parent.args) \
        and node.op != "softmax" and any(q.op == "sum" for q in parents.get(parent, ()))


def _is_loss(parent: Node, node: Node) -> bool:
    if parent.op in _LOSSES:
        return True
    if parent.op in ("pow", "power") and parent.args[0] is node:
        return True
    return parent.op == "mul" and parent.args.count(node) >= 2


# ---- renderers that write a bound name in their own format ------------------------------------------


class _Names:
    spelling: str  # the Name field this renderer writes

    def _parts(self, d: Disp) -> list:
        if d.kind == "name" and isinstance(d.value, Name):
            return [getattr(d.value, self.spelling)]
        return super()._parts(d)


class _Text(_Names, _TextRenderer):
    spelling = "text"


class _Unicode(_Names, _UnicodeRenderer):
    spelling = "unicode"


class _Latex(_Names, _LatexRenderer):
    spelling = "latex"


_TEXT, _UNICODE, _LATEX = _Text(), _Unicode(), _Latex()
_RENDERERS = {"text": _TEXT, "unicode": _UNICODE, "latex": _LATEX}
