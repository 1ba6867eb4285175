"""Settings for the whole test suite."""

from __future__ import annotations

import lmbatch._unchecked

# Decoders build their outputs without validation (see `build_unchecked`); in the tests
# every such output is validated, so a decoder that hands over a wrong value fails here
# rather than giving users a malformed LMOutput.
lmbatch._unchecked.validate_unchecked = True
