"""Record an external payment, 4 clients: the service (`payment_create_external`) against a hand-written SQL
transaction through psycopg that does the same writes (lock the member and the invoice FOR UPDATE, take the PAY
and ALC numbers, insert the payment, its allocation, their activity rows and the receipt's outbox row, update the
invoice's cached amounts), with the same number of clients.

Each client is a process with its own connection (as a web worker is) and pays the invoices of its own members, so the figure is the
work per payment, not a queue on one member's lock. Work after the commit goes to a broker as in production: the
one of REDIS_URL when set, else Celery's in-process memory transport (never run in the request: eager mode off).
Prints payments per second of each, their ratio, and the queries per call of each (BEGIN and COMMIT not counted).
"""

import multiprocessing
import statistics
import time
from decimal import Decimal

from common import figure_print, parser_create, throwaway_database
from django.conf import settings
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from djmoney.money import Money

ROW = "record an external payment, 4 clients: service / hand-written SQL (payments per s)"
AMOUNT = Decimal("1.00")


def broker_outside_the_request() -> str:
    from coworking_billing.celery import app

    app.conf.task_always_eager = False
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        app.conf.broker_url = "memory://"
    return app.conf.broker_url.split("@")[-1]


def invoices_create(*, members: int, actor) -> list:
    """One open invoice per member, large enough never to be paid off by the run."""
    from billing.services.invoice_draft import LineInput, invoice_draft_create
    from billing.services.invoice_issue import invoice_issue
    from members.models import Member

    invoices = []
    for index in range(members):
        member = Member.objects.create(name=f"Bench member {index}", email=f"bench{index}-{time.time_ns()}@x.example")
        draft = invoice_draft_create(
            member=member, actor=actor, lines=[LineInput("Offices", Decimal(1), Money("900000.00", "EUR"))]
        )
        invoices.append(invoice_issue(invoice=draft, actor=actor, apply_credit=False))
    return invoices


def service_pay(invoice, actor) -> None:
    from payments.services.payment_external import payment_create_external

    payment_create_external(invoice=invoice, actor=actor, kind="cash", amount=Money(AMOUNT, "EUR"))


class SqlClient:
    """The hand-written transaction: one psycopg connection, the same rows and columns as the service writes."""

    def __init__(self, *, content_type_id: int):
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        self.connection = psycopg.connect(**params)
        self.content_type_id = content_type_id
        self.statements = 0

    def execute(self, cursor, sql: str, parameters=()):
        self.statements += 1
        cursor.execute(sql, parameters)

    def pay(self, invoice_id: int, member_id: int) -> None:
        import json

        from django.utils import timezone

        now = timezone.now()
        year = timezone.localdate().year
        with self.connection.transaction(), self.connection.cursor() as cursor:
            self.execute(cursor, "SELECT id FROM members_member WHERE id = %s FOR UPDATE", [member_id])
            self.execute(
                cursor,
                "SELECT amount_remaining, amount_paid, currency FROM billing_invoice WHERE id = %s FOR UPDATE",
                [invoice_id],
            )
            remaining, paid, currency = cursor.fetchone()
            applied = min(AMOUNT, remaining)
            self.execute(cursor, "SELECT nextval('billing_number_pay_seq'), nextval('billing_number_alc_seq')")
            pay_value, alc_value = cursor.fetchone()
            payment_number, allocation_number = f"PAY-{year}-{pay_value:05d}", f"ALC-{year}-{alc_value:05d}"
            self.execute(
                cursor,
                "INSERT INTO payments_payment (number, member_id, invoice_id, currency, amount_currency, amount, "
                "method, external_kind, reference, received_on, status, failure_code, failure_message, "
                "automatic_retries, disputed, amount_allocated_currency, amount_allocated, amount_refunded_currency, "
                "amount_refunded, amount_refund_pending_currency, amount_refund_pending, amount_unallocated_currency, "
                "amount_unallocated, note, void_reason, created_at, succeeded_at) VALUES (%s, %s, %s, %s, %s, %s, "
                "'external', 'cash', '', %s, 'succeeded', '', '', 0, false, %s, %s, %s, 0, %s, 0, %s, %s, '', '', "
                "%s, %s) RETURNING id",
                [payment_number, member_id, invoice_id, currency, currency, AMOUNT, now.date(), currency, applied]
                + [currency, currency, currency, AMOUNT - applied, now, now],
            )
            payment_id = cursor.fetchone()[0]
            self.execute(
                cursor,
                "INSERT INTO payments_allocation (number, payment_id, invoice_id, amount_currency, amount, "
                "original_amount_currency, original_amount, status, actor_label, created_at, removed_reason) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, 'active', 'bench', %s, '')",
                [allocation_number, payment_id, invoice_id, currency, applied, currency, applied, now],
            )
            activity = (
                "(%s, 'system', 'bench', %s, %s, %s, %s, %s, %s, %s, '', %s, '', %s)"  # one row of billing_activity
            )
            received = json.dumps({"payment": payment_number, "method": "External (cash)", "reference": ""})
            allocated = json.dumps({"allocation": allocation_number, "payment": payment_number})
            self.execute(
                cursor,
                "INSERT INTO billing_activity (created_at, actor_kind, actor_label, verb, member_id, invoice_id, "
                "target_type_id, target_id, amount_currency, amount, status_before, status_after, message, data) "
                f"VALUES {activity}, {activity}",
                [now, "payment.received", member_id, invoice_id, self.content_type_id, payment_id, currency, AMOUNT]
                + ["succeeded", received, now, "payment.allocated", member_id, invoice_id, self.content_type_id]
                + [payment_id, currency, applied, "", allocated],
            )
            self.execute(
                cursor,
                "INSERT INTO payments_outboxmessage (task, arguments, created_at, attempts, last_error, "
                "next_attempt_at) VALUES ('payments.tasks.mail_send_task', %s, %s, 0, '', %s)",
                [json.dumps({"notification": "payment_receipt", "payment_id": payment_id}), now, now],
            )
            self.execute(
                cursor,
                "UPDATE billing_invoice SET amount_paid = amount_paid + %s, amount_remaining = amount_remaining - %s "
                "WHERE id = %s",
                [applied, applied, invoice_id],
            )

    def close(self) -> None:
        self.connection.close()


def clients_run(*, clients: int, payments: int, work) -> float:
    """Run `work(client_index, call_index)` `payments` times in each of `clients` processes (forked, each with its
    own database connection, as web workers are: no interpreter lock shared between clients); payments per
    second, from the moment they all stand ready to the moment the last one is done."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(clients + 1)
    connections.close_all()  # each process opens its own

    def client(index: int) -> None:
        barrier.wait()
        try:
            for call in range(payments):
                work(index, call)
        finally:
            connections.close_all()

    processes = [context.Process(target=client, args=(index,)) for index in range(clients)]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    for process in processes:
        process.join()
    seconds = time.perf_counter() - started
    failed = [process.exitcode for process in processes if process.exitcode]
    if failed:
        raise SystemExit(f"{len(failed)} client processes failed (exit codes {failed}); their traceback is above.")
    return clients * payments / seconds


def main() -> None:
    parser = parser_create(__doc__)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--payments", type=int, default=250, help="payments per client and round")
    parser.add_argument("--members", type=int, default=8, help="members (one invoice each) per client")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of service and SQL; medians")
    args = parser.parse_args()
    if args.smoke:
        args.payments, args.members, args.rounds = 3, 1, 1

    from billing.activity import Actor
    from payments.integrity import billing_integrity_violations
    from payments.models import Payment

    if connection.vendor != "postgresql":
        raise SystemExit(
            "bench/record_payments.py compares with a psycopg transaction: set DATABASE_URL to PostgreSQL."
        )
    with throwaway_database():
        broker = broker_outside_the_request()
        settings.DEBUG = False  # as in production: no query log (each client's cursor would keep every query)
        actor = Actor.system("bench")
        from django.contrib.contenttypes.models import ContentType

        content_type_id = ContentType.objects.get_for_model(Payment).pk
        service_invoices = [invoices_create(members=args.members, actor=actor) for _client in range(args.clients)]
        sql_invoices = [invoices_create(members=args.members, actor=actor) for _client in range(args.clients)]
        service_pay(service_invoices[0][0], actor)  # warm caches (content types, templates) before measuring

        with CaptureQueriesContext(connection) as captured:
            service_pay(service_invoices[0][0], actor)
        service_queries = len(captured.captured_queries)
        counting = SqlClient(content_type_id=content_type_id)
        counting.pay(sql_invoices[0][0].pk, sql_invoices[0][0].member_id)
        sql_queries = counting.statements
        counting.close()
        sql_clients = {}  # one per client process, opened in it

        def service_work(index, call):
            invoices = service_invoices[index]
            service_pay(invoices[call % len(invoices)], actor)

        def sql_work(index, call):
            invoice = sql_invoices[index][call % len(sql_invoices[index])]
            if index not in sql_clients:
                sql_clients[index] = SqlClient(content_type_id=content_type_id)
            sql_clients[index].pay(invoice.pk, invoice.member_id)

        service_rates, sql_rates = [], []
        for _round in range(args.rounds):
            service_rates.append(clients_run(clients=args.clients, payments=args.payments, work=service_work))
            sql_rates.append(clients_run(clients=args.clients, payments=args.payments, work=sql_work))
        service_rate, sql_rate = statistics.median(service_rates), statistics.median(sql_rates)

        violations = billing_integrity_violations()
        print(f"broker: {broker}; {args.clients} clients x {args.payments} payments x {args.rounds} rounds")
        print(f"service: {', '.join(f'{rate:.0f}' for rate in service_rates)} payments/s; {service_queries} queries")
        print(f"hand-written SQL: {', '.join(f'{rate:.0f}' for rate in sql_rates)} payments/s; {sql_queries} queries")
        print(f"integrity check after the run: {len(violations)} violations")
        if violations:
            raise SystemExit(f"integrity violations: {violations[:5]}")
        ratio = service_rate / sql_rate
        figure_print(
            row=ROW,
            product=f"{service_rate:.0f}/s, {service_queries} queries a call",
            baseline=f"{sql_rate:.0f}/s, {sql_queries} queries a call",
            ratio=ratio,
            goal=">= 0.5",
            met=ratio >= 0.5,
        )


if __name__ == "__main__":
    main()
