"""Webhook ingest: signed Stripe events POSTed to the real view, against a bare view that stores one row durably.

Both views run in the same real HTTP server on 127.0.0.1 (a WSGI server with a fixed pool of threads, each keeping
its database connection, as gunicorn's sync workers do), behind the project's whole middleware stack; K client
threads in a separate process POST to one view, then to the other, in alternating rounds. The real view verifies the
Stripe signature (STRIPE_WEBHOOK_SECRET) and stores the event; the bare view (mounted only here) INSERTs the body
into a table of its own and COMMITs. Celery runs as in production (not in-process): whatever the view hands to the
broker is part of its time. Afterwards the stored events are processed by the webhook relay, as a worker would.

Figure: requests per second of the bare view / of the webhook view (= ingest time / bare time), the median of the
rounds' ratios (each round's two runs follow each other, under the same load of a shared machine); goal <= 1.5.
"""

import hashlib
import hmac
import json
import logging
import multiprocessing
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from common import figure_print, parser_create, throwaway_database  # first: it sets Django up
from django.conf import settings
from django.db import connection, transaction
from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

SECRET = "whsec_bench_secret"
BARE_TABLE = "bench_webhook_bare"
GOAL = 1.5


@csrf_exempt
@require_POST
def bare_view(request):
    """The least a durable webhook endpoint does: store the body in one row and commit."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {BARE_TABLE} (received_at, body) VALUES (CURRENT_TIMESTAMP, %s)", [request.body.decode()]
        )
    return HttpResponse("stored")


urlpatterns = [path("bench/bare/", bare_view), path("", include("coworking_billing.urls"))]


def event_body(event_id: str) -> str:
    """A `payment_intent.succeeded` event as Stripe sends it (about 3 kB), for a PaymentIntent that is not ours."""
    intent_id = "pi_" + hashlib.sha1(event_id.encode()).hexdigest()[:24]
    charge = {
        "id": "ch_" + intent_id[3:],
        "object": "charge",
        "amount": 2500,
        "amount_captured": 2500,
        "amount_refunded": 0,
        "balance_transaction": "txn_" + intent_id[3:],
        "billing_details": {"address": {"city": None, "country": "DE", "line1": None, "postal_code": None}},
        "captured": True,
        "created": 1764892800,
        "currency": "eur",
        "customer": "cus_Bench0001",
        "description": "Invoice INV-2026-00042",
        "livemode": False,
        "metadata": {"attempt": "4242", "payment": "PAY-2026-00042"},
        "outcome": {"network_status": "approved_by_network", "risk_level": "normal", "seller_message": "ok"},
        "paid": True,
        "payment_intent": intent_id,
        "payment_method": "pm_Bench0001",
        "payment_method_details": {
            "card": {"brand": "visa", "country": "US", "exp_month": 12, "exp_year": 2030, "last4": "4242"},
            "type": "card",
        },
        "receipt_url": "https://pay.stripe.com/receipts/payment/" + "x" * 96,
        "refunded": False,
        "status": "succeeded",
    }
    intent = {
        "id": intent_id,
        "object": "payment_intent",
        "amount": 2500,
        "amount_received": 2500,
        "capture_method": "automatic",
        "client_secret": intent_id + "_secret_" + "y" * 24,
        "confirmation_method": "automatic",
        "created": 1764892800,
        "currency": "eur",
        "customer": "cus_Bench0001",
        "description": "Invoice INV-2026-00042",
        "latest_charge": charge,
        "livemode": False,
        "metadata": {"attempt": "4242", "payment": "PAY-2026-00042"},
        "off_session": True,
        "payment_method": "pm_Bench0001",
        "payment_method_types": ["card"],
        "status": "succeeded",
    }
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": int(time.time()),
            "data": {"object": intent},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": "attempt-4242"},
            "type": "payment_intent.succeeded",
        }
    )


def stripe_signature(body: str) -> str:
    timestamp = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def clients_serve(conn, port: int) -> None:
    """The client process: for each (url path, event id prefix, requests, clients) it gets, POST that many signed
    bodies from that many threads and send back (seconds, answers by status)."""
    while True:
        command = conn.recv()
        if command is None:
            return
        conn.send(clients_post(port, *command))


def clients_post(port: int, url: str, prefix: str, requests: int, clients: int) -> tuple[float, dict[int, int]]:
    import http.client

    bodies = [event_body(f"{prefix}_{index}") for index in range(requests)]
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    next_index = iter(range(requests))

    def client() -> None:
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            body = bodies[index]
            server = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            server.request(
                "POST",
                url,
                body=body.encode(),
                headers={"Content-Type": "application/json", "Stripe-Signature": stripe_signature(body)},
            )
            status = server.getresponse().status
            server.close()
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, statuses


def server_start(threads: int):
    """The project's WSGI application on 127.0.0.1 (a free port), served by a fixed pool of threads."""
    from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer, get_internal_wsgi_application

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args) -> None:
            pass

    class PooledWSGIServer(WSGIServer):
        request_queue_size = 256

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.pool = ThreadPoolExecutor(threads)

        def process_request(self, request, client_address) -> None:
            self.pool.submit(self._process, request, client_address)

        def _process(self, request, client_address) -> None:
            try:
                self.finish_request(request, client_address)
            except Exception:  # noqa: BLE001 - a broken client connection
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    server = PooledWSGIServer(("127.0.0.1", 0), QuietHandler, ipv6=False)
    server.set_app(get_internal_wsgi_application())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def server_connections_close(pool: ThreadPoolExecutor, threads: int) -> None:
    """Close the database connection of every thread of the pool (one task per thread, held at a barrier)."""
    from django.db import connections

    barrier = threading.Barrier(threads)

    def close() -> None:
        barrier.wait(timeout=30)
        connections.close_all()

    for _ in range(threads):
        pool.submit(close)
    pool.shutdown(wait=True)


def main() -> None:
    parser = parser_create(__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per view and round")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (and server threads)")
    parser.add_argument("--rounds", type=int, default=9, help="rounds, each view once per round, alternating")
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.clients, args.rounds = 30, 2, 1

    from coworking_billing.celery import app as celery_app
    from payments.models import WebhookEvent

    settings.ROOT_URLCONF = __name__
    settings.DEBUG = False
    settings.SECURE_SSL_REDIRECT = False
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    celery_app.conf.task_always_eager = False  # as in production: a broker and workers
    logging.getLogger("payments").setLevel(logging.WARNING)  # not a line per event processed
    broker = celery_app.conf.broker_url.split("@")[-1]

    with throwaway_database():
        with connection.cursor() as cursor:
            key = "bigserial PRIMARY KEY" if connection.vendor == "postgresql" else "integer PRIMARY KEY AUTOINCREMENT"
            cursor.execute(f"CREATE TABLE {BARE_TABLE} (id {key}, received_at timestamp NOT NULL, body text NOT NULL)")
        connection.close()
        server = server_start(args.clients)
        port = server.server_address[1]
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        clients = context.Process(target=clients_serve, args=(theirs, port), daemon=True)
        clients.start()

        def measure(url: str, prefix: str, requests: int) -> float:
            ours.send((url, prefix, requests, args.clients))
            seconds, statuses = ours.recv()
            if statuses != {200: requests}:
                raise SystemExit(f"{url}: answers {statuses}, expected {requests} times 200")
            return requests / seconds

        try:
            measure("/bench/bare/", "evt_warm_bare", 20)
            measure("/webhooks/stripe/", "evt_warm", 20)
            bare, ingest = [], []
            for round_ in range(args.rounds):
                bare.append(measure("/bench/bare/", f"evt_bare_{round_}", args.requests))
                ingest.append(measure("/webhooks/stripe/", f"evt_{round_}", args.requests))
                print(
                    f"round {round_ + 1}: bare view {bare[-1]:.0f} per s, webhook view {ingest[-1]:.0f} per s, "
                    f"ratio {bare[-1] / ingest[-1]:.2f}"
                )
        finally:
            ours.send(None)
            clients.join(timeout=30)
            server.shutdown()
            server.server_close()
            server_connections_close(server.pool, args.clients)

        stored = WebhookEvent.objects.count()
        expected = 20 + args.requests * args.rounds
        if stored != expected:
            raise SystemExit(f"{stored} webhook events stored, expected {expected}")
        print(
            f"{args.clients} clients, {args.requests} requests per view and round, {args.rounds} rounds; broker {broker}"
        )
        relay_report(expected)
        bare_rate, ingest_rate = statistics.median(bare), statistics.median(ingest)
        # Each round's two runs follow each other: their ratio sees the same load of the machine.
        ratio = statistics.median(
            bare_round / ingest_round for bare_round, ingest_round in zip(bare, ingest, strict=True)
        )
        print(
            f"median: bare view {bare_rate:.0f} per s, webhook view {ingest_rate:.0f} per s; median of the rounds' "
            f"ingest time / bare time = {ratio:.2f} (goal <= {GOAL})"
        )
        figure_print(
            row="webhook ingest / bare view storing one row",
            product=f"{ingest_rate:.0f} webhooks per s",
            baseline=f"{bare_rate:.0f} bare stores per s",
            ratio=ratio,
            goal=f"<= {GOAL}",
            met=ratio <= GOAL,
        )


def relay_report(expected: int) -> None:
    """Process the stored events as a worker's relay would, and check that each is processed once."""
    from payments.models import WebhookEvent
    from payments.services.webhook import webhook_events_relay

    started = time.perf_counter()
    summary = webhook_events_relay()
    seconds = time.perf_counter() - started
    processed = WebhookEvent.objects.filter(processed_at__isnull=False, attempts=1).count()
    if (summary.processed, processed) != (expected, expected):
        raise SystemExit(f"the relay processed {summary.processed} events ({processed} stored as processed once)")
    print(f"then the webhook relay processed the {expected} stored events in {seconds:.1f} s")


if __name__ == "__main__":
    main()
