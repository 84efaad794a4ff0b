"""Train a small MatMul-free LM of the released layout, so fidelity can be judged by quality.

Random weights give near-tied logits, so agreement on them says little. This
package trains a byte-level model (vocab 256) on a public-domain corpus with
PyTorch (the optional ``train`` extra; ``cosim.train.model`` is the only module
that imports it) and exports it as a released-layout checkpoint that cosim's
engines evaluate. ``corpus`` and ``quality`` need no PyTorch.
"""
