"""How far the fixed-point golden model is from the float reference, per run."""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax


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


def bits_per_token(logits: np.ndarray, tokens: list[int]) -> float:
    """Mean -log2 p(tokens[k+1] | tokens[..k]) of the logits [len(tokens), vocab].

    The cross-entropy a model pays per token of a text; with byte tokens it is
    bits per byte (8 is a uniform guess over 256 bytes).
    """
    logp = log_softmax(np.asarray(logits[:-1], dtype=np.float64), axis=1)
    nll = -logp[np.arange(len(tokens) - 1), np.asarray(tokens[1:])]
    return float(np.mean(nll) / np.log(2))


def quality(golden: np.ndarray, reference: np.ndarray, tokens: list[int]) -> dict:
    """Bits per byte of a text under the float reference and the golden model."""
    ref = bits_per_token(reference, tokens)
    gold = bits_per_token(golden, tokens)
    return {"predicted_bytes": len(tokens) - 1, "float_bits_per_byte": ref,
            "fixed_bits_per_byte": gold, "fixed_minus_float": gold - ref}
