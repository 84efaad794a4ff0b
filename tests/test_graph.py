"""The dataflow graph: totals against analytic counts, consistency, export."""

import networkx as nx
import numpy as np
import pytest

from cosim.config import load_model
from cosim.errors import CosimError
from cosim.graph import KINDS, build_graph, export, ordered, totals
from cosim.weights import expected_tensors, is_ternary


def analytic_parameters(h, layers, inter, vocab):
    per_layer = 4 * h * h + 3 * h * inter + 8 * h + inter
    return 2 * vocab * h + layers * per_layer + layers * h + 2 * h


@pytest.mark.parametrize("name, h, layers, inter, vocab, mb", [
    ("mmfree-370m", 1024, 24, 2816, 32000, 85),
    ("mmfree-1.3b", 2048, 24, 5632, 32000, 325),
    ("mmfree-2.7b", 2560, 32, 6912, 32000, 655),
])
def test_totals_equal_analytic_counts(name, h, layers, inter, vocab, mb):
    t = totals(build_graph(load_model(f"models/{name}.yaml")))
    assert t["parameters"] == analytic_parameters(h, layers, inter, vocab)
    ternary = layers * (4 * h * h + 3 * h * inter) + vocab * h
    assert t["ternary_adds_per_token"] == ternary
    # anchors.md: about 85 / 325 / 655 MB of 2-bit weights per token
    assert abs(t["weight_bytes_per_token"] / 1e6 - mb) / mb < 0.02


@pytest.mark.parametrize("variant", ["released", "paper"])
def test_graph_reads_exactly_the_checkpoint_tensors(variant):
    cfg = load_model("models/tiny.yaml").replace(variant=variant,
                                                 use_lower_bound=variant == "released")
    graph = build_graph(cfg)
    read = {d["param"] for _, d in graph.nodes(data=True) if d["param"]}
    expected = set(expected_tensors(cfg))
    if variant == "paper":  # the paper's MLGRU has no g_norm; its lower bounds go unused
        expected = {n for n in expected if "g_norm" not in n}
    assert read == expected
    sized = {d["param"]: d["params"] for _, d in graph.nodes(data=True) if d["params"]}
    shapes = expected_tensors(cfg)
    assert all(sized[n] == np.prod(shapes[n]) for n in sized)


def test_graph_is_a_dag_in_execution_order():
    graph = build_graph(load_model("models/tiny.yaml"))
    assert nx.is_directed_acyclic_graph(graph)
    position = {n: i for i, n in enumerate(ordered(graph))}
    assert all(position[u] < position[v] for u, v in graph.edges)
    assert {d["kind"] for _, d in graph.nodes(data=True)} <= set(KINDS)
    for name, d in graph.nodes(data=True):
        assert list(graph.predecessors(name)) == [] or set(d["inputs"]) == set(
            graph.predecessors(name))
        if d["kind"] == "matvec":
            assert is_ternary(d["param"]) and d["weight_bytes"] * 4 == d["params"]


def test_edges_carry_elements_and_bits():
    graph = build_graph(load_model("models/tiny.yaml"))
    edge = graph.edges["model.layers.0.attn.f_proj.quantize", "model.layers.0.attn.f_proj.matvec"]
    assert edge == {"elements": 64, "bits": 64 * 8}


def test_ops_by_kind_sum_to_totals():
    t = totals(build_graph(load_model("models/mmfree-370m.yaml")))
    assert sum(t["ops_per_token"].values()) == (t["ternary_adds_per_token"]
                                                + t["rowwise_ops_per_token"])


@pytest.mark.parametrize("suffix", [".graphml", ".dot"])
def test_export(tmp_path, suffix):
    graph = build_graph(load_model("models/tiny.yaml"))
    path = tmp_path / f"g{suffix}"
    export(graph, path)
    if suffix == ".graphml":
        back = nx.read_graphml(path)
        assert back.number_of_nodes() == graph.number_of_nodes()
        assert back.nodes["lm_head.matvec"]["kind"] == "matvec"
    else:
        text = path.read_text()
        assert text.startswith("digraph") and '"lm_head.matvec"' in text


def test_export_refuses_unknown_format(tmp_path):
    with pytest.raises(CosimError, match="--graph needs"):
        export(build_graph(load_model("models/tiny.yaml")), tmp_path / "g.png")
