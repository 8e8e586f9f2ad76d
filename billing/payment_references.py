"""ISO 11649 structured creditor references ("RF references") for invoices: RF, two check digits, and up to 21
letters and digits (here the invoice number's). Members type it, or their bank fills it in from the EPC QR code, as
the remittance information of a transfer; bank statements carry it back, so a credit can be matched to its invoice.

Stored compact (RF76INV202600001); printed in groups of four (RF76 INV2 0260 0001) by `payment_reference_format`."""

import re

from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

# The reference's body: at most 21 of the 25 characters, after "RF" and the two check digits.
BODY_MAX_LENGTH = 21
_START = re.compile(r"(?<![A-Z0-9])RF[0-9]{2}")
_RUN = re.compile(r"[A-Z0-9]+")
# What may stand between two groups of a printed reference: spaces (statements also break lines inside it) or a
# hyphen.
_GAP = re.compile(r"\s+|-")


def payment_reference_for(number: str) -> str:
    """The RF reference of an invoice number: RF, the check digits, and the number's letters and digits."""
    body = re.sub(r"[^A-Za-z0-9]", "", number).upper()
    if not 1 <= len(body) <= BODY_MAX_LENGTH:
        raise ValueError(f"{number!r} has no room in an RF reference (1 to {BODY_MAX_LENGTH} letters and digits).")
    reference = "RF" + mod_97_10.calc_check_digits(body + "RF") + body
    return iso11649.validate(reference)


def payment_reference_format(reference: str) -> str:
    """The reference in groups of four, as banks print it."""
    return iso11649.format(reference)


def payment_reference_valid(text: str) -> bool:
    """Whether the text is one valid RF reference (spaces and case do not matter)."""
    return iso11649.is_valid(text)


def payment_reference_find(text: str) -> list[str]:
    """Every valid RF reference in free text (a transfer's remittance information), compact, in order of
    appearance, each once. Case does not matter; a reference may be printed whole or in groups split by single
    spaces, line breaks or hyphens. When the groups run on into other words, the longest valid reading that keeps the printed
    groups of four wins, then the reference printed whole, then the longest valid reading."""
    text = text.upper()
    found: list[str] = []
    position = 0
    while match := _START.search(text, position):
        reference, end = _reference_at(text, match.start())
        if reference is None:
            position = match.start() + 2
            continue
        if reference not in found:
            found.append(reference)
        position = end
    return found


def _reference_at(text: str, start: int) -> tuple[str | None, int]:
    """The valid reference starting at `start` (at "RF"), and where it ends; None when there is none."""
    head = text[start : start + 4]
    runs: list[tuple[str, int]] = []  # each run of letters and digits after the head, and where it ends
    position = start + 4
    length = 0
    while True:
        if gap := _GAP.match(text, position):
            position = gap.end()
        elif runs:  # the groups after the first are split by a gap
            break
        run = _RUN.match(text, position)
        if run is None or length + len(run.group()) > BODY_MAX_LENGTH:
            break
        runs.append((run.group(), run.end()))
        length += len(run.group())
        position = run.end()
    candidates = list(range(len(runs), 0, -1))  # how many runs to take, longest first
    grouped = [count for count in candidates if all(len(body) == 4 for body, _end in runs[: count - 1])]
    ordered = grouped + [1] + candidates
    for count in dict.fromkeys(ordered):
        if count > len(runs):
            continue
        reference = head + "".join(body for body, _end in runs[:count])
        if iso11649.is_valid(reference):
            return reference, runs[count - 1][1]
    return None, start + 4
