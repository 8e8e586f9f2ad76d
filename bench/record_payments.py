"""Payments per second recorded sequentially and by racing threads, measured side by side in one run."""

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coworking_billing.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from djmoney.money import Money  # noqa: E402


def invoices_create(count: int, actor):
    from decimal import Decimal

    from billing.services.invoice_draft import LineInput, invoice_draft_create
    from billing.services.invoice_issue import invoice_issue
    from members.models import Member

    invoices = []
    for index in range(count):
        member = Member.objects.create(name=f"Bench member {index}", email=f"bench{index}-{time.time_ns()}@x.example")
        draft = invoice_draft_create(
            member=member, actor=actor, lines=[LineInput("Hot desk", Decimal(1), Money("120.00", "EUR"))]
        )
        invoices.append(invoice_issue(invoice=draft, actor=actor, apply_credit=False))
    return invoices


def record(invoices, actor, amount: str) -> None:
    from payments.services.payment_external import payment_create_external

    for invoice in invoices:
        payment_create_external(invoice=invoice, actor=actor, kind="cash", amount=Money(amount, "EUR"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invoices", type=int, default=200)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    from billing.activity import Actor
    from payments.integrity import billing_integrity_violations

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        actor = Actor.system("bench")
        sequential = invoices_create(args.invoices, actor)
        racing = invoices_create(args.invoices, actor)

        started = time.perf_counter()
        record(sequential, actor, "40.00")
        sequential_seconds = time.perf_counter() - started

        def worker(chunk):
            try:
                record(chunk, actor, "40.00")
            finally:
                connection.close()

        # Every thread pays every invoice: the threads contend for the same member and invoice locks.
        per_thread = max(1, args.invoices // args.threads)
        chunks = [racing[i * per_thread : (i + 1) * per_thread] for i in range(args.threads)]
        threads = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        racing_seconds = time.perf_counter() - started
        racing_count = per_thread * args.threads

        started = time.perf_counter()
        violations = billing_integrity_violations()
        check_seconds = time.perf_counter() - started
        total_invoices = 2 * args.invoices

        print(f"database: {connection.vendor}")
        print(
            f"sequential: {args.invoices} payments in {sequential_seconds:.2f} s = "
            f"{args.invoices / sequential_seconds:.1f} payments/s"
        )
        print(
            f"{args.threads} threads: {racing_count} payments in {racing_seconds:.2f} s = "
            f"{racing_count / racing_seconds:.1f} payments/s"
        )
        print(f"ratio threads/sequential: {(racing_count / racing_seconds) / (args.invoices / sequential_seconds):.2f}")
        print(
            f"integrity check: {check_seconds * 1000 / total_invoices * 1000:.0f} ms per 1,000 invoices, "
            f"{len(violations)} violations"
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
