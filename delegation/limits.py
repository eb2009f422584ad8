"""Hard limits and time constants. Normative: ``specs/token-format.md`` section "Limits".

Every limit is checked before work that grows with the input.
"""

from typing import Final

MAX_TOKEN_BYTES: Final = 16 * 1024
"""Binary token size. The base64url text form is capped at the matching length."""
MAX_TOKEN_CHARS: Final = (MAX_TOKEN_BYTES * 4 + 2) // 3
MAX_IDENTIFIER_BYTES: Final = 4096
MAX_CAVEAT_BYTES: Final = 2048
MAX_LOCATION_BYTES: Final = 256
MAX_CAVEATS: Final = 96
"""Enough for MAX_HOPS hops with a few narrowing caveats each."""
MAX_HOPS: Final = 16
"""Signed hops in one token, whatever its own depth caps say."""

MAX_CBOR_DEPTH: Final = 4
MAX_LIST_ITEMS: Final = 32
MAX_NAME_CHARS: Final = 256
"""Names: agent ids, tool, action, audience, intent, task id, approver, argument names."""
MAX_TEXT_CHARS: Final = 2048
"""Free text: the approved statement."""
MAX_RESOURCE_CHARS: Final = 1024
MAX_RESOURCE_SEGMENTS: Final = 32
MAX_TIME: Final = 2**34
"""Times are whole seconds since the Unix epoch in [0, MAX_TIME)."""
MAX_INT: Final = 2**53
"""Integers in caveats and arguments lie in (-MAX_INT, MAX_INT)."""

MAX_DISCHARGES: Final = 8
"""Discharges presented with one token."""
MAX_DISCHARGE_DEPTH: Final = 2
"""A discharge may itself need discharges, this many levels deep at most."""

MAX_PROOF_CHARS: Final = 256
MAX_REQUEST_ARGS: Final = 64
MAX_ARG_VALUE_CHARS: Final = 4096
MAX_REQUEST_VALUES: Final = 1024
"""Values in all of a request's arguments together, every nested item and key counted: the
per-container limits alone let shared lists stand for 64^5 values that digest and checks walk."""
MAX_REQUEST_TEXT_CHARS: Final = 65536
"""Characters of text in all of a request's arguments together (values and object keys)."""

CLOCK_SKEW_SECONDS: Final = 30
"""Tolerance for a not-before time and for a proof issued by a clock running ahead."""
POP_MAX_AGE_SECONDS: Final = 60
"""A proof of possession is accepted for this long after its issue time."""
RESERVATION_SECONDS: Final = 900
"""A reservation (a call's budget charges held for settling) may be settled or released for
this long after its call; from then on its charges stand, spent in full."""

ROOT_KEY_MIN_BYTES: Final = 32
MAX_KEY_FILE_BYTES: Final = 1 << 20
"""Keyring and key files (and their JSON text): refused unread beyond this. A keyring entry
is about 130 bytes, so this holds thousands of keys."""
