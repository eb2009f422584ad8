"""Third-party caveats and human approvals. Normative: ``specs/third-party.md``.

:mod:`.caveat` holds the caveat, its ticket and verification id and discharge binding;
:mod:`.discharges` checks the discharges a request carries; :mod:`.approval` is the approver's
side (``require_approval``, :class:`Approver`). The public names are re-exported from
:mod:`delegation`.
"""
