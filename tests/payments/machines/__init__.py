"""The two Hypothesis state machines: random sequences of operations keep the invariants of the spec's section 10.

- `foundation/`: invoices, external and standalone payments, applying and unallocating, voiding, money balance,
  against a reference model in plain decimals (`model.py`).
- `corrections/`: card payments, retries, refunds and credit notes on top, against an oracle that derives each
  operation's outcome from the current rows by the spec's rules (`oracle.py`).

Each machine is a package: the model or oracle (what must happen), `rules.py` (the machine: the operations it draws
and runs, each compared with what must happen), `checks.py` (the invariants after every step) and the test that
runs it. `make test` runs a fixed (derandomized) set of examples of each; the tests marked `slow` (in `.ci/run`)
run more, random ones.
"""
