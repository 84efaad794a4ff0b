"""Suite-wide set-up: Hypothesis profiles.

``quick`` (the default) keeps the suite fast on a laptop; ``thorough`` runs
when the environment has ``CI=true`` and tries many more cases (at least
10,000 across the CLI fuzz families). ``--hypothesis-profile NAME`` picks one
explicitly. Tests set no ``max_examples`` of their own, but for the MyHDL
property test, which caps the profile's count (tests/test_rtl_units.py says why).
"""

import os
import warnings

from hypothesis import HealthCheck, settings

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

#: Health checks that misfire here: fuzz tests reuse a tmp_path per test on
#: purpose (each example overwrites its files), and slow data generation is
#: expected of whole YAML documents and checkpoint headers.
_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
settings.register_profile("quick", max_examples=25, deadline=None,
                          suppress_health_check=_QUIET)
settings.register_profile("thorough", max_examples=1300, deadline=None,
                          suppress_health_check=_QUIET)
settings.load_profile("thorough" if os.environ.get("CI") == "true" else "quick")
