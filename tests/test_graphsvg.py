"""Tests for calcbook.draw_graph: valid, deterministic, legible SVG of Value graphs."""

import itertools
import re
import xml.etree.ElementTree as ET

import pytest

from calcbook import Value, draw_graph
from calcbook.graphsvg import _crossings, _layout, _place

NS = "{http://www.w3.org/2000/svg}"


def neuron():
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.label = "o"
    o.backward()
    return o


def reused():
    a = Value(3.0, label="a")
    b = a + a
    c = b * b - 2**a + (a * a).exp().log()
    c.label = "c"
    c.backward()
    return c


def parse(svg):
    root = ET.fromstring(svg)
    assert root.tag == NS + "svg"
    return root


def luminance(color):
    r, g, b = (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.mark.parametrize("rankdir", ["LR", "TB"])
@pytest.mark.parametrize("make", [neuron, reused])
def test_svg_is_valid_xml_with_size_and_everything_inside(make, rankdir):
    root = make()
    svg = parse(draw_graph(root, rankdir=rankdir))
    width, height = float(svg.get("width")), float(svg.get("height"))
    assert svg.get("viewBox") == f"0 0 {width:.0f} {height:.0f}"
    boxes = svg.findall(NS + "rect")
    ops = svg.findall(NS + "ellipse")
    order = root.topological_order()
    assert len(boxes) == len(order)
    assert len(ops) == sum(1 for n in order if n.parents)
    arrows = sum(len(n.parents) + 1 for n in order if n.parents)
    assert len(svg.findall(NS + "path")) == len(svg.findall(NS + "polygon")) == arrows
    rects = [tuple(float(r.get(k)) for k in ("x", "y", "width", "height")) for r in boxes]
    for x, y, w, h in rects:
        assert 0 <= x and x + w <= width and 0 <= y and y + h <= height
    for (x1, y1, w1, h1), (x2, y2, w2, h2) in itertools.combinations(rects, 2):
        overlap = x1 < x2 + w2 and x2 < x1 + w1 and y1 < y2 + h2 and y2 < y1 + h1
        assert not overlap
    for path in svg.findall(NS + "path"):
        numbers = [float(t) for t in re.findall(r"-?\d+\.?\d*", path.get("d"))]
        assert all(-1 <= t <= max(width, height) + 1 for t in numbers)


def test_each_node_shows_label_data_and_grad():
    svg = draw_graph(neuron())
    texts = [t.text for t in parse(svg).iter(NS + "text")]
    for expected in ["x1", "w1", "b", "o", "data 0.7071", "grad 1.0000", "grad -1.5000"]:
        assert expected in texts
    assert texts.count("*") == 2 and texts.count("+") == 2 and texts.count("tanh") == 1


def test_same_graph_gives_byte_identical_svg():
    assert draw_graph(neuron()) == draw_graph(neuron())  # fresh objects, same drawing
    root = reused()
    assert draw_graph(root, rankdir="TB") == draw_graph(root, rankdir="TB")


def test_reused_node_is_drawn_once_with_an_arrow_per_use():
    a = Value(3.0, label="a")
    b = a + a  # two arrows from a into the same "+"
    c = b * a
    svg = parse(draw_graph(c))
    labels = [t.text for t in svg.iter(NS + "text")]
    assert labels.count("a") == 1
    assert len(svg.findall(NS + "path")) == 2 + 1 + 2 + 1
    starts = [p.get("d").split(" ")[0] for p in svg.findall(NS + "path")]
    assert starts[0] != starts[1]  # the two uses of `a` by `+` are drawn apart


def test_labels_are_escaped():
    x = Value(1.0, label='<b> & "q" \'s')
    y = x.exp()
    svg = draw_graph(y)
    texts = [t.text for t in parse(svg).iter(NS + "text")]
    assert '<b> & "q" \'s' in texts
    assert "<b>" not in svg


@pytest.mark.parametrize(
    "label, shown",
    [("\x1b[1m", "\\x1b[1m"), ("a\x00b", "a\\x00b"), ("\ufffe", "\\ufffe"), (5, "5")],
)
def test_labels_xml_forbids_are_shown_escaped_and_others_converted(label, shown):
    svg = draw_graph(Value(1.0, label=label) * 2)
    texts = [t.text for t in parse(svg).iter(NS + "text")]  # parses: well-formed XML
    assert shown in texts


def test_colors_are_light_boxes_with_dark_text():
    svg = parse(draw_graph(reused()))
    fills = [e.get("fill") for e in svg.iter() if e.tag in (NS + "rect", NS + "ellipse")]
    assert all(luminance(f) > 0.85 for f in fills)
    assert all(luminance(t.get("fill")) < 0.25 for t in svg.iter(NS + "text"))
    edge = {p.get("stroke") for p in svg.findall(NS + "path")}
    assert len(edge) == 1 and 0.3 < luminance(edge.pop()) < 0.7  # visible on white and slate


def test_a_single_leaf_and_a_long_chain():
    svg = parse(draw_graph(Value(1.5, label="lonely")))
    assert len(svg.findall(NS + "rect")) == 1 and not svg.findall(NS + "path")
    x = Value(0.5, label="x")
    y = x
    for _ in range(40):
        y = y.tanh()
    assert len(parse(draw_graph(y)).findall(NS + "rect")) == 41


def test_bad_input():
    with pytest.raises(TypeError, match="needs a Value, got float"):
        draw_graph(1.0)
    with pytest.raises(ValueError, match='"LR" or "TB"'):
        draw_graph(Value(1.0), rankdir="RL")
    y = Value(1.0)
    for _ in range(30):
        y = y + 1
    with pytest.raises(ValueError, match="61 nodes, more than max_nodes=50"):
        draw_graph(y, max_nodes=50)
    assert parse(draw_graph(y, max_nodes=None)).findall(NS + "rect")  # None: no limit
    for bad in ("50", 50.0, True):
        with pytest.raises(TypeError, match="max_nodes must be an int or None"):
            draw_graph(y, max_nodes=bad)


def test_crossing_count_and_placement_helpers():
    # layer 0: vertices 0, 1; layer 1: vertices 2, 3. Edges 0->3 and 1->2 cross once.
    downs = [[3], [2], [], []]
    assert _crossings([[0, 1], [2, 3]], downs) == 1
    assert _crossings([[0, 1], [3, 2]], downs) == 0
    cross = [0.0] * 3
    _place([0, 1, 2], {0: 10.0, 1: 10.0, 2: 50.0}, cross, [10.0, 10.0, 10.0])
    assert cross[1] - cross[0] >= 10.0 + 14.0 - 1e-9  # never closer than the gap
    assert cross[0] < cross[1] < cross[2]  # order kept


def fewest_crossings(rows, downs):
    """The true minimum over every order of every layer (brute force, tiny graphs only)."""
    orders = itertools.product(*(itertools.permutations(row) for row in rows))
    return min(_crossings([list(r) for r in rows_], downs) for rows_ in orders)


def first_seen_rows(layer):
    rows = [[] for _ in range(max(layer) + 1)]
    for v, k in enumerate(layer):
        rows[k].append(v)
    return rows


def graphs_with_crossings():
    p, q = Value(1.0, label="p"), Value(2.0, label="q")
    a = p + q
    yield a + p  # in first-seen order the edge p -> second "+" crosses one; 0 are needed
    p, q, r = Value(1.0, label="p"), Value(2.0, label="q"), Value(3.0, label="r")
    yield p * r + q * r + p * q  # a triangle of products: 3 crossings first, 2 needed


@pytest.mark.parametrize("root", list(graphs_with_crossings()))
def test_ordering_reaches_the_fewest_crossings_on_small_graphs(root):
    verts, layer, rows, chains, ups, downs = _layout(root.topological_order())
    assert sorted(v for row in rows for v in row) == list(range(len(verts)))
    before = _crossings(first_seen_rows(layer), downs)
    after = _crossings(rows, downs)
    assert after == fewest_crossings(rows, downs) < before
