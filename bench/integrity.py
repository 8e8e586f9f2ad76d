"""`check_billing_integrity` at two sizes of the same books: the time per invoice on the small set (1k invoices),
then on the same database grown to the full set (100k invoices, 500k payments, 1M activities), and their ratio
(linear is 1). The data set is bench/dataset.py's; the check must find nothing on it."""

import io
import statistics
import time

import common
from dataset import dataset_build, scale
from django.core.management import call_command

from billing.models import Invoice

GOAL = 1.2


def check_time(repeats: int) -> float:
    """The median wall time of the command over `repeats` runs (it must find no violation)."""
    times = []
    for _ in range(repeats):
        output = io.StringIO()
        started = time.perf_counter()
        call_command("check_billing_integrity", "--no-progress", stdout=output)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = common.parser_create(__doc__.split("\n\n")[0])
    args = parser.parse_args()
    small = scale("tiny") if args.smoke else scale("small")
    full = {key: value * 4 for key, value in small.items()} if args.smoke else scale("full")
    with common.throwaway_database():
        started = time.perf_counter()
        dataset_build(**small)
        print(f"small set built in {time.perf_counter() - started:.1f} s: {small}", flush=True)
        small_invoices = Invoice.objects.count()
        small_seconds = check_time(1 if args.smoke else 5)
        print(f"check at {small_invoices} invoices: {small_seconds:.3f} s", flush=True)

        started = time.perf_counter()
        dataset_build(**{key: full[key] - small[key] for key in full})
        print(f"grown to the full set in {time.perf_counter() - started:.1f} s: {full}", flush=True)
        full_invoices = Invoice.objects.count()
        full_seconds = check_time(1 if args.smoke else 3)
        print(f"check at {full_invoices} invoices: {full_seconds:.3f} s", flush=True)

    small_per_invoice = small_seconds / small_invoices * 1e6
    full_per_invoice = full_seconds / full_invoices * 1e6
    ratio = full_per_invoice / small_per_invoice
    common.figure_print(
        row="check_billing_integrity: per-invoice time at 100k / at 1k",
        product=f"{full_per_invoice:.0f} µs per invoice at {full_invoices} invoices ({full_seconds:.1f} s)",
        baseline=f"{small_per_invoice:.0f} µs per invoice at {small_invoices} invoices ({small_seconds:.2f} s)",
        ratio=ratio,
        goal=f"<= {GOAL}",
        met=ratio <= GOAL,
    )


if __name__ == "__main__":
    main()
