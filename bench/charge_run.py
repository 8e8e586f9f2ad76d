"""A charge run: N members, each with a saved sandbox card and an open invoice, charged by 4 workers while the
sandbox gateway answers every call after `--latency` seconds. The wall time of the run (from handing the N charges
to the workers until every attempt is settled) is compared with the ideal N x latency / workers: one gateway round
trip per charge and no database time at all. Duplicate charges (must be 0) and the integrity check are printed.

The workers are a real Celery worker process (`celery worker --pool=prefork -c 4` on the broker of REDIS_URL and
the throw-away database) when REDIS_URL is set, else 4 threads in this process running the same task function
(`--threads` chooses the threads on purpose)."""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from common import figure_print, parser_create, throwaway_database
from django.conf import settings  # noqa: E402 (after common: Django is set up there)
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from djmoney.money import Money  # noqa: E402

BASE_DIR = Path(__file__).resolve().parent.parent
CELERY = Path(sys.executable).parent / "celery"
ROW = "charge run of N saved cards, 0.2 s gateway latency, 4 workers: wall / ideal"
TASK = "payments.tasks.attempt_execute_task"


def members_with_card_and_invoice(count: int, actor) -> list:
    """N members with a saved sandbox card and one open invoice each (set up without the injected latency)."""
    from billing.services.invoice_draft import LineInput, invoice_draft_create
    from billing.services.invoice_issue import invoice_issue
    from members.models import Member
    from payments.services.payment_method import payment_method_add

    invoices = []
    stamp = time.time_ns()
    for index in range(count):
        member = Member.objects.create(name=f"Charge member {index}", email=f"charge{index}-{stamp}@x.example")
        payment_method_add(member=member, card_token="4242424242424242", actor=actor, make_default=True)
        draft = invoice_draft_create(
            member=member, actor=actor, lines=[LineInput("Hot desk", Decimal(1), Money("120.00", "EUR"))]
        )
        invoices.append(invoice_issue(invoice=draft, actor=actor, apply_credit=False))
    return invoices


def charges_request(invoices, actor) -> list[tuple[int, int]]:
    """One card payment per invoice (its attempt and the outbox row of its charge committed): (attempt, outbox).
    The outbox relay then hands over every row of the set-up (to the hold queue, which nobody reads), as it would
    have long before a run: so the relay that the run's receipts wake hands over only those, not the set-up's mails
    and tasks again, and the rows of the charges count as handed over, as when the relay gives them to the workers."""
    from payments.models import OutboxMessage
    from payments.outbox import outbox_relay_fresh
    from payments.services.payment_card import payment_create_card

    for invoice in invoices:
        payment_create_card(invoice=invoice, actor=actor)
    outbox_relay_fresh()
    rows = OutboxMessage.objects.filter(task=TASK).order_by("pk")
    return [(row.arguments["attempt_id"], row.pk) for row in rows]


def attempts_in_flight_counter():
    """A function that counts the attempts still queued or processing. The bench asks every 20 ms while the workers
    run, on the same CPUs: the count's SQL is compiled once (Django's ORM compiling it on each poll took ~1 ms of
    CPU, ~5% of what the workers use)."""
    from payments.models import AttemptStatus, PaymentAttempt

    in_flight = PaymentAttempt.objects.filter(status__in=[AttemptStatus.QUEUED, AttemptStatus.PROCESSING]).values("pk")
    sql, params = in_flight.query.sql_with_params()
    count_sql = f"SELECT COUNT(*) FROM ({sql}) AS in_flight"

    def count() -> int:
        with connection.cursor() as cursor:
            cursor.execute(count_sql, params)
            return cursor.fetchone()[0]

    return count


def wait_settled(*, timeout: float, process=None, log_path=None) -> None:
    deadline = time.monotonic() + timeout
    attempts_in_flight = attempts_in_flight_counter()
    while attempts_in_flight():
        if process is not None and process.poll() is not None:
            raise SystemExit(f"The Celery worker exited:\n{log_path.read_text(errors='replace')}")
        if time.monotonic() > deadline:
            log = log_path.read_text(errors="replace")[-4000:] if log_path else ""
            raise SystemExit(f"The charge run did not settle within {timeout:.0f} s.\n{log}")
        time.sleep(0.02)


def run_with_worker(jobs, *, workers: int, latency: float, timeout: float, log_path: Path) -> float:
    """A real Celery worker (prefork, `-c workers`) on a queue of its own; returns the wall time of the run."""
    from coworking_billing.celery import app as celery_app

    queue = f"bench-charge-run-{uuid.uuid4().hex[:12]}"
    database_url = urlunsplit(
        urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"])
    )
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "PAYMENT_GATEWAY": "sandbox",
        "SANDBOX_LATENCY_SECONDS": str(latency),
        "DJANGO_SETTINGS_MODULE": "coworking_billing.settings",
    }
    command = [
        str(CELERY),
        "-A",
        "coworking_billing",
        "worker",
        "--pool=prefork",
        f"--concurrency={workers}",
        "-Q",
        queue,
        "-n",
        f"{queue}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel=INFO",
        "--",
        f"task.default_queue={queue}",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        # The pool's processes are forked and set up before the clock starts.
        deadline = time.monotonic() + 90
        while "ready." not in log_path.read_text(errors="replace") and time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"The Celery worker did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.1)
        time.sleep(1.0)
        started = time.perf_counter()
        for attempt_id, outbox_id in jobs:
            celery_app.send_task(TASK, kwargs={"attempt_id": attempt_id, "outbox_id": outbox_id}, queue=queue)
        wait_settled(timeout=timeout, process=process, log_path=log_path)
        return time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        with celery_app.connection_for_write() as broker:
            broker.default_channel.queue_delete(queue)


def run_with_threads(jobs, *, workers: int, latency: float, timeout: float) -> float:
    """`workers` threads taking the charges from one shared list, each calling the task function in-process."""
    from payments.gateways import gateway_override
    from payments.sandbox.gateway import SandboxGateway
    from payments.tasks import attempt_execute_task

    gateway_override(SandboxGateway(latency_seconds=latency))
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)  # no line per task
    pending = list(jobs)
    lock = threading.Lock()

    def worker() -> None:
        try:
            while True:
                with lock:
                    if not pending:
                        return
                    attempt_id, outbox_id = pending.pop(0)
                attempt_execute_task.apply(kwargs={"attempt_id": attempt_id, "outbox_id": outbox_id})
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_settled(timeout=timeout)
    elapsed = time.perf_counter() - started
    gateway_override(None)
    return elapsed


def duplicate_charges() -> int:
    """Charges beyond one per attempt and one success per payment, at the gateway and in the books."""
    from payments.models import AttemptStatus, PaymentAttempt
    from payments.sandbox.models import SandboxCharge

    per_attempt = SandboxCharge.objects.values("metadata__attempt").annotate(n=Count("id")).filter(n__gt=1).count()
    per_payment = (
        SandboxCharge.objects.filter(status=SandboxCharge.Status.SUCCEEDED)
        .values("metadata__payment")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    confirmed_twice = SandboxCharge.objects.filter(confirmations__gt=1).count()
    succeeded_twice = (
        PaymentAttempt.objects.filter(status=AttemptStatus.SUCCEEDED)
        .values("payment")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    return per_attempt + per_payment + confirmed_twice + succeeded_twice


def main() -> None:
    parser = parser_create(__doc__)
    parser.add_argument("--charges", type=int, default=200, help="N: members, saved cards and invoices")
    parser.add_argument("--latency", type=float, default=0.2, help="the sandbox's latency per gateway call, seconds")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", action="store_true", help="4 threads in this process, not a Celery worker")
    args = parser.parse_args()
    if args.smoke:
        args.charges, args.latency = 8, 0.02

    from billing.activity import Actor
    from coworking_billing.celery import app as celery_app
    from payments.gateways import gateway_override
    from payments.integrity import billing_integrity_violations
    from payments.models import AttemptStatus, PaymentAttempt
    from payments.sandbox.gateway import SandboxGateway

    use_worker = bool(settings.REDIS_URL) and not args.threads
    with throwaway_database():
        actor = Actor.system("bench")
        gateway_override(SandboxGateway())
        # The charges' tasks are queued on a queue nobody reads while they are requested, then handed to the workers
        # all at once when the clock starts.
        hold_queue = f"bench-hold-{uuid.uuid4().hex[:12]}"
        celery_app.conf.task_always_eager = False
        celery_app.conf.task_default_queue = hold_queue
        try:
            invoices = members_with_card_and_invoice(args.charges, actor)
            started = time.perf_counter()
            jobs = charges_request(invoices, actor)
            request_seconds = time.perf_counter() - started
        finally:
            gateway_override(None)
            if settings.REDIS_URL:
                with celery_app.connection_for_write() as broker:
                    broker.default_channel.queue_delete(hold_queue)
        timeout = 60 + 10 * args.charges * args.latency
        if use_worker:
            log_path = Path(f"/tmp/bench-charge-run-{os.getpid()}.log")
            wall = run_with_worker(jobs, workers=args.workers, latency=args.latency, timeout=timeout, log_path=log_path)
            how = f"a Celery worker process, prefork -c {args.workers}"
        else:
            wall = run_with_threads(jobs, workers=args.workers, latency=args.latency, timeout=timeout)
            how = f"{args.workers} threads running attempt_execute_task in-process"
        ideal = args.charges * args.latency / args.workers
        succeeded = PaymentAttempt.objects.filter(status=AttemptStatus.SUCCEEDED).count()
        duplicates = duplicate_charges()
        violations = billing_integrity_violations()
        print(f"database: {connection.vendor}; workers: {how}")
        print(f"requesting {args.charges} card payments (not timed in the run): {request_seconds:.2f} s")
        print(f"charge run: {succeeded} of {args.charges} charges succeeded in {wall:.2f} s; ideal {ideal:.2f} s")
        print(f"duplicate charges: {duplicates}; integrity check: {len(violations)} violations")
        for violation in violations[:10]:
            print(f"  {violation}")
        ratio = wall / ideal
        figure_print(
            row=ROW,
            product=f"{wall:.2f} s for {args.charges} charges at {args.latency} s",
            baseline=f"ideal {ideal:.2f} s",
            ratio=ratio,
            goal="<= 1.25, 0 duplicates",
            met=ratio <= 1.25 and duplicates == 0 and not violations and succeeded == args.charges,
        )


if __name__ == "__main__":
    main()
