"""Draw the graph of a `Value` computation as a self-contained SVG string.

No graphviz and no system binary: the layout is the classic layered (Sugiyama) recipe at
teaching size.

1. *Layers.* Each node goes one layer after the latest of its inputs (longest path from the
   inputs); every operation sits in its own small node between its inputs and its result, and
   a leaf moves up to just before its first use, so constants sit next to where they are used.
2. *Dummies.* An edge that skips layers is split by invisible dummy nodes, one per layer, so
   that it is routed between the boxes instead of through them.
3. *Order.* Sweeping down and up the layers, each node moves to the mean position (barycenter)
   of its neighbours in the previous layer; the order with the fewest edge crossings is kept,
   then neighbours in a layer swap places while that removes crossings.
4. *Coordinates.* Along each layer nodes are placed at their neighbours' barycenter, no closer
   than a fixed gap; then boxes, text and arrows are written as plain SVG elements.

Every step is deterministic, so the same graph always gives byte-identical SVG.
"""

import numbers
import re
from bisect import bisect_right, insort
from collections import Counter
from xml.sax.saxutils import escape

from .value import Value

__all__ = ["draw_graph"]

CHAR, PAD, GAP, LAYER_GAP, MARGIN, ARROW = 7.2, 8.0, 14.0, 36.0, 10.0, 7.0  # pixels
# Light boxes with dark text read well on both Material themes (light, and dark "slate").
INK, EDGE, OP_INK = "#1f2328", "#8c939d", "#0b3d91"  # text and lines, edges, operation text
BOX, LEAF, ROOT, OP = "#ffffff", "#fff4d6", "#e3f4e1", "#e3eefc"  # fills


def _fmt(x):
    return f"{x:.4f}" if x == 0 or 1e-3 <= abs(x) < 1e5 else f"{x:.3e}"


def draw_graph(root, *, rankdir="LR", max_nodes=500):
    """Render the computation that produced `root` as an SVG string.

    Parameters
    ----------
    root : Value
        The output of the computation; every node it depends on is drawn.
    rankdir : {"LR", "TB"}
        Inputs on the left and flow to the right ("LR"), or from top to bottom ("TB").
    max_nodes : int or None
        Refuse larger graphs (a drawing of thousands of nodes is unreadable); None draws any
        size.

    Returns
    -------
    str
        An `<svg>` element with `width`, `height` and `viewBox`. Each value is a box with its
        label, data and grad (inputs shaded yellow, the output green); each operation is a
        small blue node.

    Examples
    --------
    ```python
    import xml.etree.ElementTree as ET

    from calcbook import Value, draw_graph

    w, x = Value(-3.0, label="w"), Value(2.0, label="x")
    y = (w * x + 1).tanh()
    y.backward()
    svg = draw_graph(y)
    assert ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg"
    assert "tanh" in svg and "grad" in svg and svg == draw_graph(y)
    ```
    """
    if not isinstance(root, Value):
        raise TypeError(f"draw_graph needs a Value, got {type(root).__name__}")
    if rankdir not in ("LR", "TB"):
        raise ValueError(f'rankdir must be "LR" or "TB", got {rankdir!r}')
    if max_nodes is not None and (
        isinstance(max_nodes, bool) or not isinstance(max_nodes, numbers.Integral)
    ):
        raise TypeError(f"max_nodes must be an int or None, got {max_nodes!r}")
    order = root.topological_order()
    if max_nodes is not None and len(order) > max_nodes:
        raise ValueError(f"the graph has {len(order)} nodes, more than max_nodes={max_nodes}")

    verts, layer, rows, chains, ups, downs = _layout(order)
    n_layers = len(rows)

    # 4. Coordinates: "main" runs along the flow, "cross" along a layer.
    lr = rankdir == "LR"
    main_size = [v[2] if lr else v[3] for v in verts]
    cross_size = [(v[3] if lr else v[2]) if v[0] != "dummy" else 4.0 for v in verts]
    band = [max(main_size[v] for v in row) for row in rows]
    start = [MARGIN + sum(band[:k]) + k * LAYER_GAP for k in range(n_layers)]
    main = [start[layer[v]] + band[layer[v]] / 2 for v in range(len(verts))]
    cross = [0.0] * len(verts)
    for row in rows:  # first guess: stacked from 0
        at = 0.0
        for v in row:
            cross[v] = at + cross_size[v] / 2
            at += cross_size[v] + GAP
    for sweep in range(4):
        down = sweep % 2 == 0
        for k in range(1, n_layers) if down else range(n_layers - 2, -1, -1):
            want = {}
            for v in rows[k]:
                near = ups[v] if down else downs[v]
                want[v] = sum(cross[w] for w in near) / len(near) if near else cross[v]
            _place(rows[k], want, cross, cross_size)
    low = min(cross[v] - cross_size[v] / 2 for v in range(len(verts)))
    cross = [c - low + MARGIN for c in cross]
    extent_main = start[-1] + band[-1] + MARGIN
    extent_cross = max(cross[v] + cross_size[v] / 2 for v in range(len(verts))) + MARGIN

    def xy(m, c):
        return (m, c) if lr else (c, m)

    width, height = xy(extent_main, extent_cross)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" style="max-width: 100%; height: auto" '
        'role="img" font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" '
        'font-size="12">',
        f"<title>{escape(f'computation graph of {len(order)} values')}</title>",
    ]
    copies, drawn = Counter((c[0], c[-1]) for c in chains), Counter()
    for chain in chains:  # edges first, so that boxes cover their ends
        u, v = chain[0], chain[-1]
        drawn[u, v] += 1  # an operand used twice (x * x) gets two side-by-side arrows
        shift = 6.0 * (drawn[u, v] - 1 - (copies[u, v] - 1) / 2)
        points = [(main[u] + main_size[u] / 2, cross[u] + shift)]
        points += [(main[d], cross[d]) for d in chain[1:-1]]
        points.append((main[v] - main_size[v] / 2 - ARROW, cross[v] + shift))
        path = "M{:.1f},{:.1f}".format(*xy(*points[0]))
        for (m0, c0), (m1, c1) in zip(points, points[1:], strict=False):
            mid = (m0 + m1) / 2
            path += " C{:.1f},{:.1f} {:.1f},{:.1f} {:.1f},{:.1f}".format(
                *xy(mid, c0), *xy(mid, c1), *xy(m1, c1)
            )
        out.append(f'<path d="{path}" fill="none" stroke="{EDGE}" stroke-width="1.3"/>')
        tip, (m, c) = main[v] - main_size[v] / 2, points[-1]
        corners = [xy(tip, c), xy(m, c - ARROW / 2), xy(m, c + ARROW / 2)]
        out.append(f'<polygon points="{_pts(corners)}" fill="{EDGE}"/>')
    for v, (kind, payload, w, h) in enumerate(verts):
        cx, cy = xy(main[v], cross[v])
        if kind == "op":
            out.append(
                f'<ellipse cx="{cx:.1f}" cy="{cy:.1f}" rx="{w / 2:.1f}" ry="{h / 2:.1f}" '
                f'fill="{OP}" stroke="{OP_INK}"/>'
            )
            out.append(_text(cx, cy, payload, OP_INK))
        elif kind == "value":
            node, texts, widths = payload
            fill = ROOT if node is root else LEAF if not node.parents else BOX
            x0, y0 = cx - w / 2, cy - h / 2
            out.append(
                f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{h:.1f}" rx="3" '
                f'fill="{fill}" stroke="{INK}" stroke-width="{1.6 if node is root else 1}"/>'
            )
            for i, (text, tw) in enumerate(zip(texts, widths, strict=True)):
                if i:
                    out.append(
                        f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x0:.1f}" y2="{y0 + h:.1f}" '
                        f'stroke="{INK}" stroke-width="0.6"/>'
                    )
                bold = ' font-weight="bold"' if i == 0 and node.label else ""
                out.append(_text(x0 + tw / 2, cy, text, INK, bold))
                x0 += tw
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _layout(order):
    """Steps 1-3 for the nodes `order`. Vertices are [kind, payload, width, height] lists."""
    # One vertex per Value (payload: node, texts, widths), one per operation (payload: name).
    verts, index, edges = [], {}, []  # edges: (source vertex, target vertex)
    for node in order:
        index[node] = len(verts)
        texts = ([node.label] if node.label else []) + [f"data {_fmt(node.data)}"]
        texts.append(f"grad {_fmt(node.grad)}")
        widths = [len(t) * CHAR + 2 * PAD for t in texts]
        verts.append(["value", (node, texts, widths), sum(widths), 26.0])
        if node.parents:
            op = len(verts)
            verts.append(["op", node._op, max(26.0, len(node._op) * CHAR + 14.0), 22.0])
            edges += [(index[p], op) for p in node.parents] + [(op, index[node])]

    # 1. Layers: longest path from the inputs; then leaves move up to just before first use.
    layer = [0] * len(verts)
    for u, v in edges:  # sources come before targets in `edges`, so one pass suffices
        layer[v] = max(layer[v], layer[u] + 1)
    first_use = {}
    for u, v in edges:
        first_use[u] = min(first_use.get(u, layer[v]), layer[v])
    for u, (kind, payload, _, _) in enumerate(verts):
        if kind == "value" and not payload[0].parents and u in first_use:
            layer[u] = first_use[u] - 1

    # 2. Dummies: split edges that skip layers into one-layer pieces.
    chains, short = [], []
    for u, v in edges:
        chain = [u]
        for k in range(layer[u] + 1, layer[v]):
            verts.append(["dummy", None, 0.0, 0.0])
            layer.append(k)
            chain.append(len(verts) - 1)
        chains.append(chain + [v])
        short += zip(chain, chain[1:] + [v], strict=True)
    n_layers = max(layer) + 1
    ups = [[] for _ in verts]
    downs = [[] for _ in verts]
    for u, v in short:
        downs[u].append(v)
        ups[v].append(u)

    # 3. Order within layers: barycenter sweeps, keeping the order with the fewest crossings.
    rows = [[] for _ in range(n_layers)]
    for i in range(len(verts)):
        rows[layer[i]].append(i)
    best, best_crossings = [r[:] for r in rows], _crossings(rows, downs)
    for sweep in range(8):
        down = sweep % 2 == 0
        for k in range(1, n_layers) if down else range(n_layers - 2, -1, -1):
            pos = {v: i for i, v in enumerate(rows[k - 1 if down else k + 1])}
            row = rows[k]

            def bary(item, down=down, pos=pos):
                i, v = item
                near = [pos[w] for w in (ups[v] if down else downs[v])]
                return (sum(near) / len(near) if near else i, i)

            rows[k] = [v for _, v in sorted(enumerate(row), key=bary)]
        crossings = _crossings(rows, downs)
        if crossings < best_crossings:
            best, best_crossings = [r[:] for r in rows], crossings
    _transpose(best, ups, downs)
    return verts, layer, best, chains, ups, downs


# Characters XML 1.0 forbids even escaped (control characters, surrogates, U+FFFE, U+FFFF).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text):
    """`text` escaped for XML, with the characters XML forbids shown as `\\xNN` / `\\uNNNN`."""
    return escape(_NOT_XML.sub(lambda m: ascii(m.group())[1:-1], text))


def _text(x, y, text, color, extra=""):
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" dy="0.35em" text-anchor="middle" fill="{color}"{extra}>'
        f"{_xml(text)}</text>"
    )


def _pts(points):
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def _crossings(rows, downs):
    """Edge crossings between adjacent layers: pairs of edges whose ends swap order."""
    total = 0
    for upper, lower in zip(rows, rows[1:], strict=False):
        pos = {v: i for i, v in enumerate(lower)}
        below = []  # lower ends of the edges seen so far, sorted
        for u in upper:
            ends = sorted(pos[w] for w in downs[u])
            for b in ends:  # an earlier edge crosses this one if it ends further right
                total += len(below) - bisect_right(below, b)
            for b in ends:
                insort(below, b)
    return total


def _transpose(rows, ups, downs):
    """Swap neighbours in a layer while that removes crossings (Gansner et al.'s "transpose")."""
    pos = {v: i for row in rows for i, v in enumerate(row)}

    def crossings(u, v):  # between the edges of u and of v, with u left of v
        return sum(pos[a] > pos[b] for near in (ups, downs) for a in near[u] for b in near[v])

    improved = True
    while improved:
        improved = False
        for row in rows:
            for i in range(len(row) - 1):
                u, v = row[i], row[i + 1]
                if crossings(v, u) < crossings(u, v):
                    row[i], row[i + 1], pos[u], pos[v] = v, u, i + 1, i
                    improved = True


def _place(row, want, cross, size):
    """Put each vertex of `row` near `want`, in order, at least GAP apart, balanced."""
    at = []
    for v in row:  # forward pass: as wanted, but never overlapping the previous one
        lowest = at[-1][1] + GAP + size[v] / 2 if at else -1e18
        c = max(want[v], lowest)
        at.append((c, c + size[v] / 2))
    shift = sum(want[v] - c for v, (c, _) in zip(row, at, strict=True)) / len(row)
    for v, (c, _) in zip(row, at, strict=True):  # move back up: on average, where wanted
        cross[v] = c + shift
