"""The lane program, executed on the golden operations, equals the fixed engine bit for bit."""

import numpy as np
import pytest

from cosim.config import load_model, load_schedule, parse_overrides
from cosim.errors import ConfigError
from cosim.graph import build_graph
from cosim.numerics.engines import FixedEngine
from cosim.program import compile_program, execute, new_lane
from cosim.weights import PreparedWeights, RandomWeights

SETS = {
    "released, lm_head on host": [],
    "paper": ["model.variant=paper", "model.use_lower_bound=false"],
    "lm_head on chip": ["schedule.host=[model.embeddings]", "schedule.units.matvec.tp=64"],
}


def _setup(sets):
    ov = parse_overrides(["model.seed=3", *sets])
    cfg = load_model("models/tiny.yaml", ov)
    sch = load_schedule("schedules/ecp5-85k.yaml", ov)
    graph = build_graph(cfg, sch.numerics)
    weights = PreparedWeights(cfg, RandomWeights(cfg))
    return cfg, sch, graph, FixedEngine(graph, cfg, weights, sch.numerics)


@pytest.mark.parametrize("name", SETS)
def test_program_equals_fixed_engine(name):
    cfg, sch, graph, engine = _setup(SETS[name])
    program = compile_program(graph, cfg, sch)
    lane = new_lane(program)
    seen = {}
    for token in (3, 17, 200, 5, 5, 99):
        engine.step(token, observe=lambda n, d, v: seen.__setitem__(n, v))
        x = engine.fx.to_fixed(engine.embeddings[token], "embed")
        out = execute(program, engine, lane, x)
        np.testing.assert_array_equal(out, seen[program.out_node])
        for layer, h in engine.state.items():
            st = lane.state[layer * cfg.hidden_size:(layer + 1) * cfg.hidden_size]
            np.testing.assert_array_equal(st, h)
    assert program.out_node == ("lm_head.dequantize" if "chip" in name else "model.norm")


def test_corrupted_instruction_is_detected():
    cfg, sch, graph, engine = _setup([])
    program = compile_program(graph, cfg, sch)
    k = next(i for i, ins in enumerate(program.instrs) if ins.kind == "add")
    bad = list(program.instrs)
    bad[k] = type(bad[k])(**{**bad[k].__dict__, "b": bad[k].b + 1})
    mutant = type(program)(**{**program.__dict__, "instrs": tuple(bad)})
    x = engine.fx.to_fixed(engine.embeddings[3], "embed")
    good = execute(program, engine, new_lane(program), x)
    assert not np.array_equal(good, execute(mutant, engine, new_lane(mutant), x))


def test_tp_must_divide_columns():
    cfg, sch, graph, _ = _setup(["schedule.units.matvec.tp=128"])
    with pytest.raises(ConfigError, match="tp must divide"):
        compile_program(graph, cfg, sch)
