"""Which vectors pin which section of the spec: the index written at the end of
``specs/README.md`` ("Vectors by section").

``SECTIONS`` lists, per spec file and section heading (exactly as the heading reads), the
vector names that pin it, as exact names or ``fnmatch`` patterns (``cbor_*``). Every vector
is listed under at least one section, every pattern matches at least one vector, and every
heading exists (``tests/vectors/test_sections.py``). A new vector goes under the sections
whose rules it holds.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

Section = tuple[str, str, tuple[str, ...]]

SECTIONS: tuple[Section, ...] = (
    ("token-format.md", "1. Text form", ("base64_*", "empty_token", "token_text_over_limit")),
    (
        "token-format.md",
        "2. Binary form: macaroon V2",
        ("framing_*", "third_party_caveat", "location_is_an_unauthenticated_hint"),
    ),
    (
        "token-format.md",
        "3. Signature: the libmacaroons HMAC chain",
        (
            "wrong_root_secret",
            "signature_*",
            "caveat_widened_in_place",
            "caveat_byte_changed",
            "caveat_dropped_*",
            "caveats_reordered",
            "caveat_added_without_mac",
            "identifier_task_changed",
            "identifier_holder_swapped",
            "hop_and_its_caveats_dropped",
            "hop_replaced_by_hop_from_other_token",
            "caveats_of_other_token_with_its_signature",
        ),
    ),
    (
        "token-format.md",
        "4. Deterministic CBOR profile",
        (
            "cbor_*",
            "type_confusion_*",
            "integer_*",
            "identifier_value_sharing*",
            "identifier_string_references",
            "identifier_indefinite_key_id",
            "identifier_huge_declared_map",
            "identifier_duplicate_key",
            "identifier_unsorted_keys",
            "identifier_trailing_byte",
            "identifier_not_a_map",
            "identifier_null_nonce",
            "identifier_tag_head",
            "identifier_duplicate_adjacent_key",
            "identifier_*_byte_argument",
            "proof_issued_at_*",
            "pop_valid_issued_at_*",
            "args_eq_max_int_minus_one",
            "args_eq_minus_max_int",
        ),
    ),
    (
        "token-format.md",
        "Printable text",
        (
            "*_control_character",
            "key_id_bidi_override",
            "framing_location_not_utf8",
            "cbor_invalid_utf8_text",
        ),
    ),
    ("token-format.md", "5. Identifier", ("identifier_*", "key_id_*", "unknown_key_id*")),
    (
        "token-format.md",
        "5.1 Ed25519 public keys",
        ("identifier_holder_key_*", "hop_public_key_*"),
    ),
    (
        "token-format.md",
        "6. Caveat ids",
        ("caveat_not_an_array", "caveat_array_of_three", "caveat_type_id_*", "cbor_empty_caveat"),
    ),
    (
        "token-format.md",
        "7. Chain digest, root id, token id, hop ids",
        (
            "revoked_token_id",
            "revoked_*_chain_id",
            "revoked_hop_id",
            "root_holder_read",
            "one_hop",
            "three_hops",
            "attenuated_without_hop",
        ),
    ),
    (
        "token-format.md",
        "8. Limits",
        (
            "token_text_over_limit",
            "framing_token_at_byte_and_text_limits",
            "framing_*_at_limit",
            "framing_caveat_of_128_bytes",
            "framing_*_too_large",
            "framing_location_too_long",
            "framing_too_many_caveats",
            "16_hops_allowed",
            "17_hops_too_large",
            "*_32_*",
            "*_33_*",
            "*_256_*",
            "*_257_*",
            "*_1024_*",
            "*_1025_*",
            "*_2048_*",
            "*_2049_*",
            "*max_time*",
            "*max_int*",
            "discharges_at_limit",
            "discharges_too_many",
            "discharge_too_long",
            "nested_discharges_too_deep",
            "proof_too_long",
            "request_*_4096_*",
            "request_*_4097_*",
            "request_64_*",
            "request_65_*",
            "request_*_nested_*",
            "request_1024_values",
            "request_1025_values",
            "request_6553*",
            "cbor_depth_*",
            "cbor_nested_too_deep",
        ),
    ),
    (
        "caveats.md",
        "Type ids",
        ("caveat_type_id_*", "unknown_caveat_*"),
    ),
    (
        "caveats.md",
        "1 validity",
        (
            "missing_expiry*",
            "expired_*",
            "not_yet_valid*",
            "later_expiry_*",
            "validity_*",
            "one_second_before_expiry",
            "not_before_within_clock_skew",
            "later_validity_not_before_only",
            "*_beside_a_failure",
        ),
    ),
    (
        "caveats.md",
        "2 audience, 3 tool, 4 action, 6 intent",
        (
            "wrong_audience*",
            "tool_not_allowed*",
            "action_not_allowed",
            "intent_*",
            "later_tool_caveat_*",
            "later_audience_caveat_cannot_widen",
            "tool_list_*",
            "tool_set_*",
            "tool_name_*",
            "audience_*",
        ),
    ),
    ("caveats.md", "5 resource", ("resource_*", "later_resource_caveat_cannot_widen")),
    ("caveats.md", "7 args", ("args_*",)),
    (
        "caveats.md",
        "8 max_depth",
        (
            "depth_*",
            "later_max_depth_cannot_raise",
            "type_confusion_max_depth_*",
            "integer_max_depth_over_max_hops",
            "cbor_half_float_max_depth",
        ),
    ),
    ("caveats.md", "9 delegatees", ("delegatee*", "later_delegatees_cannot_widen")),
    ("caveats.md", "10 hop", ("hop_*", "one_hop_valid", "three_hops")),
    ("caveats.md", "11 call", ("call_caveat_*", "approval_for_other_*")),
    (
        "caveats.md",
        "12 max_uses",
        ("max_uses_*", "uses_*", "stateless_max_uses*", "order_max_uses_before_approval_at_step_9"),
    ),
    ("caveats.md", "13 args_only", ("args_only_*",)),
    (
        "caveats.md",
        "14 approved_for",
        (
            "approved_for_in_token_*",
            "approval_used_by_*",
            "approval_of_*",
            "approval_discharge_without_approved_for",
            "approval_discharge_approved_for_after_call",
            "approved_for_body_of_three",
        ),
    ),
    ("caveats.md", "Families a discharge may not carry", ("discharge_carries_*",)),
    ("caveats.md", "Third-party caveats", ("third_party_*", "generic_discharge_required")),
    (
        "caveats.md",
        "Resources and resource patterns",
        ("resource_*", "double_star_*", "single_star_*"),
    ),
    (
        "caveats.md",
        "Agent ids and patterns",
        (
            "delegatee*",
            "identifier_holder_id_*",
            "hop_agent_id_with_space",
        ),
    ),
    (
        "caveats.md",
        "Unknown caveats",
        (
            "unknown_caveat_*",
            "cbor_depth_*",
            "cbor_map_*",
            "cbor_integer_*",
            "cbor_nested_too_deep",
            "cbor_value_sharing_application_caveat",
            "discharge_carries_unknown_caveat",
        ),
    ),
    (
        "verification.md",
        "Order of checks",
        (
            "several_failures_in_token_order",
            "caveat_failure_and_missing_proof",
            "revoked_and_caveat_fails",
            "revoked_without_proof",
            "order_*",
        ),
    ),
    (
        "verification.md",
        "Steps 1-3: is it ours?",
        ("unknown_key_id*", "key_id_*", "wrong_root_secret", "no_token", "rotated_keyring_*"),
    ),
    (
        "verification.md",
        "Step 4: parse the caveats",
        ("order_parse_before_walk_*", "order_seventeenth_hop_before_walk", "17_hops_too_large"),
    ),
    (
        "verification.md",
        "Step 5: walk the chain",
        (
            "missing_*",
            "order_missing_caveat_after_walk_*",
            "hop_key_cycle_*",
            "hop_self_delegation",
            "vid_*",
        ),
    ),
    (
        "verification.md",
        "Hop signatures",
        (
            "hop_signature_corrupted",
            "hop_signed_*",
            "second_hop_signed_by_previous_holder",
            "hop_spliced_from_other_token",
            "hop_retargeted_*",
            "hop_cache_*",
            "pop_invalid_signature_*",
            "pop_valid_ed25519_rule_control",
            "hop_public_key_mixed_order_passes_screening",
        ),
    ),
    (
        "verification.md",
        "Step 6: revocation",
        ("revoked_*", "revocations_of_others", "store_revocations_unavailable*"),
    ),
    (
        "verification.md",
        "Step 7: caveats and discharges",
        (
            "several_failures_in_token_order",
            "unknown_caveat_and_other_failure",
            "order_first_party_before_discharge_reasons",
            "approval_and_generic_both_missing",
        ),
    ),
    (
        "verification.md",
        "Step 8: proof of possession",
        ("pop_*", "caveat_failure_and_missing_proof", "store_nonces_unavailable*"),
    ),
    ("verification.md", "Step 8a: the policy", ("policy_*",)),
    (
        "verification.md",
        "Step 9: count uses and spend approvals",
        (
            "uses_*",
            "max_uses_*",
            "stateless_*",
            "approval_not_spent_*",
            "approval_used_twice",
            "store_uses_unavailable*",
            "order_max_uses_before_approval_at_step_9",
        ),
    ),
    (
        "verification.md",
        "Reasons and decisions",
        (
            "root_holder_*",
            "one_hop",
            "three_hops",
            "attenuated_without_hop",
            "args_all_satisfied",
            "several_failures_in_token_order",
        ),
    ),
    ("verification.md", "What is cached", ("hop_cache_*",)),
    (
        "proof-of-possession.md",
        "Proof",
        (
            "proof_*",
            "pop_valid_issued_at_*",
            "pop_invalid_stale",
            "pop_valid_at_max_age",
            "pop_invalid_future",
            "pop_valid_within_skew",
        ),
    ),
    (
        "proof-of-possession.md",
        "Request digest",
        (
            "pop_invalid_other_*",
            "pop_invalid_args_type",
            "call_caveat_*",
            "request_*",
        ),
    ),
    (
        "proof-of-possession.md",
        "The JSON request shape",
        ("request_*", "args_eq_float_for_int"),
    ),
    ("proof-of-possession.md", "Verifying a proof (step 8)", ("pop_*",)),
    (
        "proof-of-possession.md",
        "Nonces in the verifier's state",
        ("replay_*", "invalid_proof_does_not_burn_nonce", "nonce_*"),
    ),
    ("proof-of-possession.md", "Approval requests", ("approval_request_*",)),
    (
        "third-party.md",
        "Caveat id",
        (
            "third_party_*",
            "approval_required_for_matching_call",
            "approval_not_required_other_*",
        ),
    ),
    (
        "third-party.md",
        "Caveat key and ticket",
        ("self_approval_*", "approval_request_over_other_token"),
    ),
    (
        "third-party.md",
        "Verification id",
        ("vid_*", "nested_vid_does_not_open", "order_parse_before_walk_bad_vid"),
    ),
    (
        "third-party.md",
        "Discharges",
        (
            "discharge_without_expiry",
            "discharge_with_not_before_only",
            "discharge_not_yet_valid",
            "discharge_carries_*",
            "discharge_caveat_dropped",
            "discharge_attenuated_by_holder",
            "discharge_too_*",
            "approval_discharge_*",
            "generic_discharge_*",
        ),
    ),
    ("third-party.md", "Binding", ("discharge_unbound", "discharge_bound_*")),
    (
        "third-party.md",
        "Verifying discharges",
        (
            "discharge_duplicate",
            "discharge_extra*",
            "discharge_garbage_*",
            "discharge_empty_string",
            "discharge_is_the_token",
            "discharge_needs_itself",
            "discharges_*",
            "nested_*",
            "approval_and_generic_both_missing",
            "approval_sent_with_call_that_needs_none",
            "order_too_many_discharges_before_decoding",
            "order_discharge_checks_stop_before_its_caveats",
            "discharge_for_token_without_third_party_caveats",
        ),
    ),
    ("third-party.md", "Approvals", ("approval_*", "stateless_approval")),
    (
        "third-party.md",
        "Approvals are bound to the chain that asked",
        ("approval_used_by_*", "approval_of_*", "approved_for_in_token_*"),
    ),
    ("third-party.md", "Why a sub-agent cannot approve itself", ("self_*",)),
    (
        "state.md",
        "The State protocol",
        ("store_*",),
    ),
    ("state.md", "Fail-closed rules", ("store_*",)),
    ("state.md", "A verifier without state", ("stateless_*", "policy_*_stateless*")),
    ("policy.md", "The hook", ("policy_*",)),
    ("policy.md", "The input document", ("policy_allows", "policy_input_of_a_root_call")),
    ("state.md", "Nonces", ("nonce_*", "replay_*")),
    ("state.md", "Revocations", ("revoked_*", "revocations_of_others")),
    (
        "state.md",
        "Use counts",
        (
            "uses_*",
            "max_uses_shared_by_descendants",
            "max_uses_before_any_expiry",
            "order_approval_spent_under_max_uses_with_room",
            "approval_kept_*",
            "approval_used_twice",
            "approval_two_approvals_same_call",
            "approval_reused_via_*",
        ),
    ),
    ("state.md", "What is cached, and what never is", ("hop_cache_*",)),
    (
        "budgets.md",
        "15 budget",
        ("budget_cost_*", "budget_fixed_cost", "budget_per_call_*", "budget_body_*"),
    ),
    (
        "budgets.md",
        "Charging at step 9",
        (
            "budget_cost_from_argument",
            "budget_child_within_its_own",
            "budget_siblings_share_the_parents",
            "budget_two_units_all_or_nothing",
            "budget_uses_exhausted_reported_first",
            "budget_denied_call_charges_nothing",
            "budget_stateless_state_required",
            "budget_store_unavailable",
        ),
    ),
    ("service.md", "Canonical JSON", ("canonical_*",)),
    ("service.md", "The audit log", ("audit_chain_*", "checkpoint_*")),
    ("service.md", "Receipts", ("receipt_*",)),
    ("http.md", "The credential", ("http_credential_*",)),
    ("http.md", "HTTP request to `Request`", ("http_derive_*",)),
    ("http.md", "The route map", ("http_match_*",)),
    ("http.md", "Denials", ("http_status_*",)),
    ("http.md", "What the proof binds", ("http_call_*",)),
    (
        "budgets.md",
        "Reservations: reserve, then settle",
        ("budget_reserve_*", "budget_reservation_*", "budget_settle_*", "budget_no_reservation_*"),
    ),
)

HEADING = "## Vectors by section"


def matches(pattern: str, names: Iterable[str]) -> list[str]:
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def render(names: Iterable[str]) -> str:
    """The README section: per spec file and section, its vector names and patterns."""
    names = sorted(names)
    lines = [
        HEADING,
        "",
        "Generated by [vectors/generate.py](vectors/generate.py) from `vectors/gen/sections.py`;"
        " do not edit by hand. Per section of the spec, the vectors that pin it, by name or by"
        " name pattern (`*` matches any text; the count is how many vectors it names). Every"
        " vector is listed under at least one section.",
    ]
    current = None
    for spec, heading, patterns in SECTIONS:
        if spec != current:
            lines += ["", f"### [{spec}]({spec})", ""]
            current = spec
        listed = ", ".join(
            f"`{p}`" if "*" not in p else f"`{p}` ({len(matches(p, names))})" for p in patterns
        )
        lines.append(f"- [{heading}]({spec}#{anchor(heading)}): {listed}")
    return "\n".join(lines) + "\n"
