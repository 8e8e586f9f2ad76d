"""Pages flat at scale: the median latency of every admin and portal page with the full data set (100k invoices,
500k payments, 1M activities, 50k members) over the same page with the small one (1k invoices), measured in the
same run on the same database, which grows from one size to the other.

DEBUG is off, as in production. Each page is asked for by Django's test client, logged in as a superuser (admin pages) or as a member (portal
pages): a few requests to warm up, then REPEAT requests timed one by one; the figure is the worst page's ratio of
medians. The table prints, per page, both medians, the ratio, the queries and the size of the response.

    python bench/pages.py [--smoke] [--repeat 15]
"""

import statistics
import time

import common
from dataset import dataset_build, scale
from django.conf import settings
from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

GOAL_RATIO = 1.3
GOAL_QUERIES = 15
WARM_UP = 3


def pages_pick() -> dict:
    """The objects the pages show, taken from the small set (they keep their rows when the set grows)."""
    from django.contrib.auth import get_user_model

    from billing.models import Invoice, InvoiceStatus
    from payments.models import Payment, PaymentStatus

    invoice = (
        Invoice.objects.filter(status=InvoiceStatus.OPEN, amount_paid__gt=0).order_by("pk").first()
        or Invoice.objects.exclude(status=InvoiceStatus.DRAFT).order_by("pk").first()
    )
    payment = (
        Payment.objects.filter(status=PaymentStatus.SUCCEEDED, amount_allocated__gt=0).order_by("pk").first()
        or Payment.objects.order_by("pk").first()
    )
    member = invoice.member
    user_model = get_user_model()
    staff = user_model.objects.create_superuser("bench-staff", "staff@bench.example", "bench-password")
    member_user = user_model.objects.create_user("bench-member", member.email or "member@bench.example", "x")
    member.user = member_user
    member.save(update_fields=["user"])
    return {"invoice": invoice, "payment": payment, "member": member, "staff": staff, "member_user": member_user}


def pages_list(picked: dict) -> list[tuple[str, str, str]]:
    """(name, who asks, URL) of every page measured."""
    invoice, payment, member = picked["invoice"], picked["payment"], picked["member"]
    return [
        ("admin invoice list", "staff", reverse("admin:billing_invoice_changelist")),
        (
            "admin invoice list of a member",
            "staff",
            reverse("admin:billing_invoice_changelist") + f"?member__id__exact={member.pk}",
        ),
        ("admin invoice page", "staff", reverse("admin:billing_invoice_change", args=[invoice.pk])),
        ("admin payment list", "staff", reverse("admin:payments_payment_changelist")),
        ("admin payment page", "staff", reverse("admin:payments_payment_change", args=[payment.pk])),
        ("admin member list", "staff", reverse("admin:members_member_changelist")),
        ("admin member page", "staff", reverse("admin:members_member_change", args=[member.pk])),
        ("report: payments", "staff", reverse("admin:billing_report_payments")),
        ("report: aging", "staff", reverse("admin:billing_report_aging")),
        ("report: member credit", "staff", reverse("admin:billing_report_member_credit")),
        ("portal invoice list", "member", reverse("portal:invoice_list")),
        ("portal invoice page", "member", reverse("portal:invoice_detail", args=[invoice.pk])),
        ("portal payment list", "member", reverse("portal:payment_list")),
    ]


def clients_create(picked: dict) -> dict[str, Client]:
    staff, member = Client(), Client()
    staff.force_login(picked["staff"])
    member.force_login(picked["member_user"])
    return {"staff": staff, "member": member}


def page_measure(client: Client, url: str, *, repeat: int) -> dict:
    """Median latency (ms), queries and bytes of one page."""
    for _ in range(WARM_UP):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    query_count = len(queries)  # now: the log is read lazily, and the next request clears it
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(times), "queries": query_count, "bytes": len(response.content)}


def vacuum_analyze() -> None:
    """What autovacuum does on a live database: fresh statistics and visibility maps (index-only scans)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def measure_all(pages, clients, *, repeat: int) -> dict[str, dict]:
    return {name: page_measure(clients[who], url, repeat=repeat) for name, who, url in pages}


def main() -> None:
    parser = common.parser_create(__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed requests per page and size")
    args = parser.parse_args()
    if args.smoke:
        small = scale("tiny")
        full = {key: value * 3 for key, value in small.items()}
        repeat = 3
    else:
        small, full = scale("small"), scale("full")
        repeat = args.repeat

    with common.throwaway_database():
        settings.DEBUG = False  # as in production: no query log, no debug pages
        started = time.perf_counter()
        dataset_build(**small)
        vacuum_analyze()
        print(f"small set built in {time.perf_counter() - started:.1f} s: {small}", flush=True)
        picked = pages_pick()
        pages = pages_list(picked)
        clients = clients_create(picked)
        at_small = measure_all(pages, clients, repeat=repeat)

        started = time.perf_counter()
        dataset_build(**{key: full[key] - small[key] for key in full})
        vacuum_analyze()
        print(f"grown to the full set in {time.perf_counter() - started:.1f} s: {full}", flush=True)
        at_full = measure_all(pages, clients, repeat=repeat)

    print()
    header = f"{'page':34} {'small ms':>9} {'full ms':>9} {'ratio':>6} {'queries':>9} {'KB small':>9} {'KB full':>9}"
    print(header)
    print("-" * len(header))
    ratios = {}
    for name, _who, _url in pages:
        small_page, full_page = at_small[name], at_full[name]
        ratios[name] = full_page["median_ms"] / small_page["median_ms"]
        print(
            f"{name:34} {small_page['median_ms']:9.1f} {full_page['median_ms']:9.1f} {ratios[name]:6.2f} "
            f"{small_page['queries']:>4}/{full_page['queries']:<4} {small_page['bytes'] / 1024:9.1f} "
            f"{full_page['bytes'] / 1024:9.1f}"
        )
    worst = max(ratios, key=ratios.get)
    most_queries = max(max(at_small[name]["queries"], at_full[name]["queries"]) for name, _who, _url in pages)
    print(f"\nworst page: {worst}; most queries on a page: {most_queries} (goal <= {GOAL_QUERIES})\n")
    common.figure_print(
        row="pages at 100k invoices / at 1k (median latency, worst page)",
        product=f"{at_full[worst]['median_ms']:.1f} ms ({worst})",
        baseline=f"{at_small[worst]['median_ms']:.1f} ms",
        ratio=ratios[worst],
        goal=f"<= {GOAL_RATIO}, <= {GOAL_QUERIES} queries",
        met=ratios[worst] <= GOAL_RATIO and most_queries <= GOAL_QUERIES,
    )


if __name__ == "__main__":
    main()
