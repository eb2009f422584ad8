"""The credential header (specs/http.md, "The credential"); its vectors are in
tests/vectors/test_http_vectors.py. Here: round trips, and what is never repeated."""

from __future__ import annotations

import pytest

from delegation.errors import Code
from delegation.http import MAX_CREDENTIAL_CHARS, BadCredential, Credential
from delegation.http._credential import from_headers, without_authorization


def test_a_credential_writes_what_it_reads() -> None:
    credential = Credential("TOKEN", "PROOF", ("D1", "D2"))
    assert credential.header() == "Bearer dlg1.TOKEN.PROOF.D1.D2"
    assert Credential.parse(credential.header()) == credential
    assert Credential("TOKEN").encode() == "dlg1.TOKEN"


def test_discharges_without_a_proof_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="follow a proof"):
        Credential("TOKEN", None, ("D",)).encode()


def test_a_refusal_never_repeats_the_input() -> None:
    secret = "S3cr3tT0k3n"
    for header in (f"Bearer dlg1.{secret}.!!", f"Bearer dlg1.{secret}.{'P' * 300}"):
        with pytest.raises(BadCredential) as caught:
            Credential.parse(header)
        assert secret not in str(caught.value)


def test_the_length_is_checked_before_anything_else() -> None:
    with pytest.raises(BadCredential) as caught:
        Credential.parse("x" * (MAX_CREDENTIAL_CHARS + 1))
    assert caught.value.code is Code.TOO_LARGE


def test_header_names_are_case_insensitive_and_the_header_is_removed_for_the_handler() -> None:
    headers = [(b"Authorization", b"Bearer dlg1.T.P"), (b"host", b"crm")]
    assert from_headers(headers) == Credential("T", "P")
    assert without_authorization(headers) == [(b"host", b"crm")]
    assert without_authorization([(b"AUTHORIZATION", b"x")]) == []


def test_header_bytes_outside_ascii_are_malformed_not_an_exception() -> None:
    with pytest.raises(BadCredential) as caught:
        from_headers([(b"authorization", "Bearer dlg1.T\u00e9.P".encode("latin-1"))])
    assert caught.value.code is Code.MALFORMED
