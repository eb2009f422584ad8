"""``encoding.json`` while it is built: the file, the root token every case spoils, and the
helpers the themes share (each adds one vector with the expected code)."""

from __future__ import annotations

from dataclasses import dataclass, field

from delegation import Code, UnverifiedToken, _wire

from gen.fixtures import READ, Tokenish, appended, cids, pop, resigned
from gen.render import At, Reason, VectorFile


def varint(n: int) -> bytes:
    out = bytearray()
    _wire._put_varint(out, n)
    return bytes(out)


def wire_field(field_type: int, data: bytes) -> bytes:
    return varint(field_type) + varint(len(data)) + data


@dataclass
class Cases:
    """The file being built and the root token ``r`` that its cases spell differently."""

    f: VectorFile
    r: UnverifiedToken
    """The root token the cases take apart."""
    body: bytes = field(init=False)
    """``r``'s caveat sections as macaroon V2 frames them."""
    sig: bytes = field(init=False)
    """``r``'s signature field."""

    def __post_init__(self) -> None:
        self.body = b"".join(wire_field(2, c.cid) + b"\x00" for c in self.r.raw.caveats)
        self.sig = wire_field(6, self.r.raw.signature)

    def framed(
        self, header: bytes, caveats: bytes | None = None, tail: bytes | None = None
    ) -> bytes:
        """``header``, then ``caveats`` (default ``r``'s), then ``tail`` (default the end of
        caveats and ``r``'s signature)."""
        caveats = self.body if caveats is None else caveats
        tail = b"\x00" + self.sig if tail is None else tail
        return header + caveats + tail

    def mal(
        self,
        name: str,
        description: str,
        tok: Tokenish,
        proof_over: Tokenish | None = None,
        *,
        at: int | None = None,
    ) -> None:
        """``tok`` is malformed: as a whole (step 1, no position), or at its caveat ``at``
        (step 4)."""
        # The proof signs the bytes as presented (or, for a text that is not base64url, the
        # token it misspells), so the encoding is the only thing wrong.
        proof = pop(tok if proof_over is None else proof_over, "orchestrator", READ, name)
        code: Reason = Code.MALFORMED if at is None else At(Code.MALFORMED, at)
        self.f.add(name, description, tok, READ, proof, codes=[code])

    def big(self, name: str, description: str, data: Tokenish) -> None:
        self.f.add(
            name,
            description,
            data,
            READ,
            pop(data, "orchestrator", READ, name),
            codes=[Code.TOO_LARGE],
        )

    def cbor_case(self, name: str, description: str, cid: bytes) -> None:
        """``r`` with the caveat ``cid`` appended by the holder: malformed at step 4, positioned
        at that last caveat."""
        tok = appended(self.r, cid)
        self.f.add(
            name,
            description,
            tok,
            READ,
            pop(tok, "orchestrator", READ, name),
            codes=[At(Code.MALFORMED, -1)],
        )

    def ident_case(self, name: str, description: str, identifier: bytes) -> None:
        """``r``'s caveats under ``identifier``, MACed with the test root key: malformed."""
        tok = resigned(identifier, cids(self.r))
        self.f.add(
            name,
            description,
            tok,
            READ,
            pop(tok, "orchestrator", READ, name),
            codes=[Code.MALFORMED],
        )
