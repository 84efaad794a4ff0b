"""How far the fixed-point golden model is from the float reference, per run."""

from __future__ import annotations

import numpy as np


def compare(golden: np.ndarray, reference: np.ndarray, overflow_count: int,
            top_k: int = 5) -> dict:
    """Fidelity of logits ``golden`` against ``reference`` (both [tokens, vocab]).

    Reports the worst absolute error, the smallest per-position cosine
    similarity, top-1 agreement, the fraction of positions whose reference
    top-1 is within the golden top-k, and the number of saturated values.
    """
    golden = np.asarray(golden, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    norms = np.linalg.norm(golden, axis=1) * np.linalg.norm(reference, axis=1)
    cosine = np.sum(golden * reference, axis=1) / np.maximum(norms, 1e-300)
    top1_ref = np.argmax(reference, axis=1)
    k = min(top_k, golden.shape[1])
    topk_gold = np.argsort(-golden, axis=1)[:, :k]
    return {
        "tokens": int(golden.shape[0]),
        "max_abs_err": float(np.max(np.abs(golden - reference))),
        "cosine_min": float(np.min(cosine)),
        "cosine_mean": float(np.mean(cosine)),
        "top1_agreement": float(np.mean(np.argmax(golden, axis=1) == top1_ref)),
        f"top{k}_agreement": float(np.mean(np.any(topk_gold == top1_ref[:, None], axis=1))),
        "overflow_count": int(overflow_count),
    }
