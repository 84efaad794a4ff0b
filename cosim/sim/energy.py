"""Energy and power: counted actions times energy per action, plus static power."""

from __future__ import annotations

from cosim.config.schedule import ScheduleConfig

#: A human brain: about 20 W; skilled silent reading is a few tokens per second.
BRAIN_W = 20.0
BRAIN_TOKENS_PER_S = 4.0


def token_energy(actions: dict[str, float], schedule: ScheduleConfig) -> dict[str, float]:
    """Dynamic joules per token by action, from action counts per token."""
    table = schedule.energy
    return {name: count * getattr(table, name).pj * 1e-12
            for name, count in actions.items()}


def power_report(actions: dict[str, float], schedule: ScheduleConfig,
                 tokens_per_s: float) -> tuple[dict, dict, dict]:
    """(power, energy, brain) sections of the report for a decode rate."""
    by_action = token_energy(actions, schedule)
    dynamic_j = sum(by_action.values())
    static_w = schedule.energy.static.w
    dynamic_w = dynamic_j * tokens_per_s
    total_w = static_w + dynamic_w
    j_per_token = total_w / tokens_per_s if tokens_per_s else float("inf")
    power = {"total_w": total_w, "static_w": static_w, "dynamic_w": dynamic_w,
             "static_source": schedule.energy.static.source}
    energy = {
        "joules_per_token": j_per_token,
        "tokens_per_joule": 1.0 / j_per_token if j_per_token else 0.0,
        "dynamic_joules_per_token": dynamic_j,
        "static_joules_per_token": static_w / tokens_per_s if tokens_per_s else 0.0,
        "dynamic_by_action_j": by_action,
        "actions_per_token": actions,
        "sources": {name: getattr(schedule.energy, name).source for name in actions},
    }
    return power, energy, brain_report(tokens_per_s, total_w)


def brain_report(tokens_per_s: float, total_w: float) -> dict:
    """A design against a human brain (about 20 W, a few tokens/s of silent reading)."""
    brain_tpj = BRAIN_TOKENS_PER_S / BRAIN_W
    tokens_per_joule = tokens_per_s / total_w if total_w else float("inf")
    return {"brain_w": BRAIN_W, "brain_tokens_per_s": BRAIN_TOKENS_PER_S,
            "brain_tokens_per_joule": brain_tpj,
            "design_over_brain_tokens_per_joule": tokens_per_joule / brain_tpj,
            "design_over_brain_tokens_per_s": tokens_per_s / BRAIN_TOKENS_PER_S,
            "power_over_brain": total_w / BRAIN_W}
