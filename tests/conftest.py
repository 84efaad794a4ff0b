"""Suite-wide set-up."""

import warnings

with warnings.catch_warnings():
    # On a failure Hypothesis imports libcst (where installed) to suggest a patch;
    # that import warns (mypy_extensions.TypedDict is deprecated) and -W error
    # turns it into an INTERNALERROR that hides the failing example. Import it
    # once, quietly, before any test runs.
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import hypothesis.extra._patching  # noqa: F401
    except ImportError:
        pass
