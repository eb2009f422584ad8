"""The max-uses caveat (``delegation.caveats.uses``).

Counting uses needs shared state: how the verifier counts them, on both stores, is in
stores/test_state.py.
"""

from __future__ import annotations

import pytest

from delegation import MalformedToken
from delegation.caveats import MaxUses


@pytest.mark.parametrize("uses", [0, -1, 2**31])
def test_max_uses_out_of_range_is_malformed(uses: int) -> None:
    with pytest.raises(MalformedToken):
        MaxUses(uses)
