"""Pages flat at scale: the median latency of every admin and portal page with the full data set (100k invoices,
500k payments, 1M activities, 50k members) over the same page with the small one (1k invoices), measured in the
same run: two throw-away databases, one per size, and the requests alternate between them (one at each size in
turn), so that a change of the shared machine's load weighs on both sizes alike.

DEBUG is off, as in production. Each page is asked for by Django's test client, logged in as a superuser (admin
pages) or as a member (portal pages): a few requests to warm up, then REPEAT timed requests at each size; the figure
is the worst page's ratio of medians. The table prints, per page, both medians, the ratio, the queries of one
request at each size and the size of the response.

    python bench/pages.py [--smoke] [--repeat 15] [--pages report]

`--pages` measures only the pages whose name contains one of its comma-separated words (e.g. `report` for the
three reports, `report: payments` for one); the figure is then the worst of those.
"""

import copy
import statistics
import time

import common
from dataset import dataset_build, scale
from django.conf import settings
from django.db import connection, connections, reset_queries, router
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


class SizeRouter:
    """Sends every query of the pages to the database of the size being measured (`SizeRouter.alias`)."""

    alias = "default"

    def db_for_read(self, model, **hints):
        return self.alias

    def db_for_write(self, model, **hints):
        return self.alias

    def allow_relation(self, obj1, obj2, **hints):
        return True


def full_database_create() -> None:
    """A second throw-away database, alias "full", migrated like the first."""
    settings_dict = copy.deepcopy(connections.settings["default"])
    settings_dict["TEST"]["NAME"] = f"{connection.settings_dict['NAME']}_full"
    connections.settings["full"] = settings_dict
    settings.DATABASES["full"] = settings_dict
    connections["full"].creation.create_test_db(verbosity=0, autoclobber=True)


def dataset_build_into(alias: str, sizes: dict) -> None:
    """Build the data set into the database `alias` (the builder writes to the default connection)."""
    connections["default"].close()
    original = connections["default"]
    connections._connections.default = connections[alias]
    try:
        dataset_build(**sizes)
        vacuum_analyze()
    finally:
        connections._connections.default = original


def clients_create(picked: dict) -> dict[str, Client]:
    staff, member = Client(), Client()
    staff.force_login(picked["staff"])
    member.force_login(picked["member_user"])
    return {"staff": staff, "member": member}


def request_time(client: Client, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, (url, response.status_code)
    return elapsed


def page_queries(client: Client, url: str) -> tuple[int, int]:
    """Queries of one request (caches warm) and the size of the response."""
    for _ in range(WARM_UP):
        request_time(client, url)
    alias = SizeRouter.alias
    reset_queries()
    with CaptureQueriesContext(connections[alias]) as queries:
        response = client.get(url)
    return len(queries), len(response.content)


def vacuum_analyze() -> None:
    """What autovacuum does on a live database: fresh statistics and visibility maps (index-only scans)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def main() -> None:
    parser = common.parser_create(__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed requests per page and size")
    parser.add_argument(
        "--pages", default="", help="only the pages whose name contains one of these comma-separated words"
    )
    args = parser.parse_args()
    only = [word.strip() for word in args.pages.split(",") if word.strip()]
    if args.smoke:
        small = scale("tiny")
        full = {key: value * 3 for key, value in small.items()}
        repeat = 3
    else:
        small, full = scale("small"), scale("full")
        repeat = args.repeat

    with common.throwaway_database():
        settings.DEBUG = False  # as in production: no query log, no debug pages
        full_database_create()
        try:
            measured = measure(small, full, repeat=repeat, only=only)
        finally:
            connections["full"].close()
            connections["full"].creation.destroy_test_db(verbosity=0)
    report(*measured)


def measure(small: dict, full: dict, *, repeat: int, only: list[str] | None = None):
    for alias, sizes in (("default", small), ("full", full)):
        started = time.perf_counter()
        dataset_build_into(alias, sizes)
        print(f"{alias} database: data set built in {time.perf_counter() - started:.1f} s: {sizes}", flush=True)
    router.routers.insert(0, SizeRouter())
    sizes = {}
    for size, alias in (("small", "default"), ("full", "full")):
        SizeRouter.alias = alias
        picked = pages_pick()
        sizes[size] = {"alias": alias, "pages": pages_list(picked), "clients": clients_create(picked)}
    names = [name for name, _who, _url in sizes["small"]["pages"]]
    results = {size: {} for size in sizes}
    for index, name in enumerate(names):
        if only and not any(word in name for word in only):
            continue
        for size, state in sizes.items():
            SizeRouter.alias = state["alias"]
            _name, who, url = state["pages"][index]
            queries, size_bytes = page_queries(state["clients"][who], url)
            results[size][name] = {"queries": queries, "bytes": size_bytes, "times": []}
        # One request at each size in turn: a change of the machine's load weighs on both alike.
        for _ in range(repeat):
            for size, state in sizes.items():
                SizeRouter.alias = state["alias"]
                _name, who, url = state["pages"][index]
                results[size][name]["times"].append(request_time(state["clients"][who], url))
    SizeRouter.alias = "default"
    for size in results:
        for page in results[size].values():
            page["median_ms"] = statistics.median(page["times"])
    return [name for name in names if name in results["small"]], results["small"], results["full"]


def report(names: list[str], at_small: dict, at_full: dict) -> None:
    print()
    header = f"{'page':34} {'small ms':>9} {'full ms':>9} {'ratio':>6} {'queries':>9} {'KB small':>9} {'KB full':>9}"
    print(header)
    print("-" * len(header))
    ratios = {}
    for name in names:
        small_page, full_page = at_small[name], at_full[name]
        ratios[name] = full_page["median_ms"] / small_page["median_ms"]
        print(
            f"{name:34} {small_page['median_ms']:9.1f} {full_page['median_ms']:9.1f} {ratios[name]:6.2f} "
            f"{small_page['queries']:>4}/{full_page['queries']:<4} {small_page['bytes'] / 1024:9.1f} "
            f"{full_page['bytes'] / 1024:9.1f}"
        )
    worst = max(ratios, key=ratios.get)
    most_queries = max(max(at_small[name]["queries"], at_full[name]["queries"]) for name in names)
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
