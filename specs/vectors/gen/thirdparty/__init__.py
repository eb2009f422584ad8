"""``thirdparty.json``: third-party caveats and discharges. Human approval of one exact call,
for the chain that asked; the approver's side (approval requests); binding to one token, the
set of discharges, hand-built discharges, self-approval, generic third parties, nesting depth
and VIDs.

One module per theme, each adding its vectors in file order; ``story`` holds what they share.
"""

from __future__ import annotations

from gen.render import VectorFile
from gen.thirdparty import (
    approval,
    chain_binding,
    discharges,
    generic,
    handmade,
    order,
    requests,
    self_approval,
)
from gen.thirdparty.story import Story


def build() -> VectorFile:
    f = VectorFile(
        "thirdparty.json",
        "Third-party caveats and their discharges: human approval of one exact call, generic"
        " third parties, binding to one token, nesting, and the discharges a verifier refuses.",
        third_parties=True,
    )
    story = Story(f)
    approval.add(story)
    chain_binding.add(story)
    requests.add(story)
    discharges.add(story)
    handmade.add(story)
    self_approval.add(story)
    generic.add(story)
    order.add(story)
    return f
