"""Shared test settings.

Hypothesis draws its examples from a fixed seed (``derandomize``), so a CI run
is reproducible: a failure it finds fails every run until fixed, never at
random on an unrelated change. Set ``HYPOTHESIS_PROFILE=explore`` locally to
search fresh examples each run.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
