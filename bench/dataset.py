"""The large data set of the benchmarks: members, invoices in every status with their lines, external and card
payments with their allocations, refunds, credit notes, money balance entries and the activity that records them,
written straight into the current database in bulk (COPY on PostgreSQL, bulk inserts on SQLite), consistent with
every invariant that `billing_integrity_violations()` checks.

    dataset_build(**scale("small"))          # 500 members, 1,000 invoices, 5,000 payments, 10,000 activities
    dataset_build(**scale("full"))           # 50k members, 100k invoices, 500k payments, 1M activities

It adds to what the database holds (ids, numbers and sequences continue after the rows already there), so a set can
be grown: build the small set, measure, then build more. From the shell:

    python bench/dataset.py --scale small|full [--into-configured-database]

builds it in a throw-away database, runs the integrity check on it, prints the times and drops the database; with
`--into-configured-database` it writes into the database of DATABASE_URL instead (and keeps it), to look around.

How the rows are shaped (invoice i of the build, by i % 20): 0 draft; 1 void (its payments voided, their allocations
removed); 2 uncollectible, half paid; 3-5 open, unpaid (their card charges failed); 6-8 open, half paid; 9 paid, part
of it with the member's money balance; 10 paid, part of it reduced by a credit note; 11-19 paid. The payments are
shared among the invoices (payments / invoices each); a draft's are the member's unallocated prepayments. Every third
payment is a card payment with its saved card, succeeded attempt and target; some payments pay more than was due
(the rest unallocated, or refunded). Members pay in EUR, CHF or GBP, as in the demo space.
"""

import datetime
import json
import uuid
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from django.core.management.color import no_style
from django.db import connection, transaction
from django.utils import timezone

CENT = Decimal("0.01")
FULL = {"members": 50_000, "invoices": 100_000, "payments": 500_000, "activities": 1_000_000}
# Invoices are written in chunks of this many, each chunk's rows one COPY per table.
CHUNK = 5_000
ACTOR_LABEL = "bench"
# Prices of the demo's products per currency (the demo bills in EUR and GBP; CHF at Swiss prices).
PRODUCTS = (
    ("Hot desk, monthly", {"EUR": "190.00", "CHF": "210.00", "GBP": "165.00"}),
    ("Meeting room, hours", {"EUR": "25.00", "CHF": "30.00", "GBP": "22.00"}),
    ("Printing, pages", {"EUR": "0.10", "CHF": "0.12", "GBP": "0.08"}),
    ("Dedicated desk, monthly", {"EUR": "320.00", "CHF": "350.00", "GBP": "280.00"}),
    ("Day pass for a guest", {"EUR": "20.00", "CHF": "25.00", "GBP": "18.00"}),
    ("Private office, 4 desks", {"EUR": "1450.00", "CHF": "1600.00", "GBP": "1250.00"}),
    ("Locker, monthly", {"EUR": "15.00", "CHF": "18.00", "GBP": "12.00"}),
)
TAX_RATES = {"EUR": Decimal("20"), "CHF": Decimal("8.10"), "GBP": Decimal("20")}
EXTERNAL_KINDS = ("bank_transfer", "cash", "check", "other")
SPAN_DAYS = 730


def scale(name: str) -> dict[str, int]:
    """The sizes of a named scale, as keyword arguments of `dataset_build`: "full" (the issue's multi-location
    operator), "small" (1/100 of it) or "tiny" (1/1000, for tests and smoke runs)."""
    divisor = {"full": 1, "small": 100, "tiny": 1000}[name]
    return {key: value // divisor for key, value in FULL.items()}


def _cents(value: Decimal) -> int:
    return int((value * 100).to_integral_value())


def _money(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


class _Writer:
    """Rows buffered per model as dicts of attribute names, flushed in bulk: COPY on PostgreSQL, executemany
    elsewhere. Columns not given take the field's default, so fields added later need no change here."""

    def __init__(self):
        self.rows = defaultdict(list)
        self.postgres = connection.vendor == "postgresql"
        self.written = defaultdict(int)
        self.specs = {}

    def add(self, model, row: dict) -> None:
        self.rows[model].append(row)

    def _spec(self, model):
        if model not in self.specs:
            fields = [field for field in model._meta.concrete_fields]
            self.specs[model] = fields
        return self.specs[model]

    def flush(self) -> None:
        for model, rows in list(self.rows.items()):
            if rows:
                self._write(model, rows)
                self.written[model] += len(rows)
        self.rows.clear()

    def _write(self, model, rows: list[dict]) -> None:
        fields = self._spec(model)
        given = set().union(*(row.keys() for row in rows))
        constant_defaults = {}
        for field in fields:
            if field.attname not in given and not callable(field.default):
                constant_defaults[field.attname] = field.get_default()
        table = connection.ops.quote_name(model._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)

        def values(row):
            for field in fields:
                name = field.attname
                if name in row:
                    yield row[name]
                elif name in constant_defaults:
                    yield constant_defaults[name]
                else:
                    yield field.get_default()

        if self.postgres:
            json_positions = [i for i, field in enumerate(fields) if field.get_internal_type() == "JSONField"]
            with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    record = list(values(row))
                    for position in json_positions:
                        record[position] = json.dumps(record[position])
                    copy.write_row(record)
        else:
            placeholders = ", ".join(["%s"] * len(fields))
            prepared = [
                [field.get_db_prep_save(value, connection) for field, value in zip(fields, values(row), strict=True)]
                for row in rows
            ]
            with connection.cursor() as cursor:
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", prepared)


class _Ids:
    """The next primary key of each model, after the rows already there."""

    def __init__(self):
        self.next = {}

    def take(self, model) -> int:
        if model not in self.next:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT COALESCE(MAX({connection.ops.quote_name(model._meta.pk.column)}), 0) "
                    f"FROM {connection.ops.quote_name(model._meta.db_table)}"
                )
                self.next[model] = cursor.fetchone()[0] + 1
        value = self.next[model]
        self.next[model] = value + 1
        return value


class _Numbers:
    """Numbers of the four series, continuing the counters: INV and CN (gapless per year) from their
    NumberSequence rows, PAY and ALC from their PostgreSQL sequence (or, on SQLite, their counter rows). The state
    is written back by `save()`."""

    def __init__(self):
        from billing.models import NumberSequence
        from billing.numbering import DATABASE_SEQUENCES

        self.counters = {(s.series, s.year): s.last_value for s in NumberSequence.objects.all()}
        self.touched = set()
        self.sequences = DATABASE_SEQUENCES if connection.vendor == "postgresql" else {}
        self.sequence_values = {}
        for series, name in self.sequences.items():
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT last_value, is_called FROM {connection.ops.quote_name(name)}")
                last_value, is_called = cursor.fetchone()
            self.sequence_values[series] = last_value if is_called else last_value - 1

    def take(self, series: str, year: int) -> str:
        if series in self.sequences:
            value = self.sequence_values[series] + 1
            self.sequence_values[series] = value
        else:
            value = self.counters.get((series, year), 0) + 1
            self.counters[(series, year)] = value
            self.touched.add((series, year))
        return f"{series}-{year}-{value:05d}"

    def save(self) -> None:
        from billing.models import NumberSequence

        for series, year in sorted(self.touched):
            NumberSequence.objects.update_or_create(
                series=series, year=year, defaults={"last_value": self.counters[(series, year)]}
            )
        for series, name in self.sequences.items():
            if self.sequence_values[series] > 0:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT setval(%s, %s, true)", [name, self.sequence_values[series]])


class _Builder:
    def __init__(self, *, members: int, invoices: int, payments: int, activities: int):
        from django.contrib.contenttypes.models import ContentType

        from billing.models import MoneyBalanceEntry
        from payments.models import Payment

        if members < 1 or invoices < members:
            raise ValueError("A data set needs at least one member and at least as many invoices as members.")
        self.sizes = {"members": members, "invoices": invoices, "payments": payments, "activities": activities}
        self.writer = _Writer()
        self.ids = _Ids()
        self.numbers = _Numbers()
        self.today = timezone.localdate()
        self.now = timezone.now()
        self.payment_type = ContentType.objects.get_for_model(Payment).pk
        self.entry_type = ContentType.objects.get_for_model(MoneyBalanceEntry).pk
        self.activity_count = 0
        self.extra_activities = []  # (verb, row) candidates written at the end while the budget lasts
        self.members = []  # (id, currency, card id)

    # Rows ----------------------------------------------------------------------------------------------------

    def activity(self, *, verb, at, member_id, invoice_id=None, target=None, amount=None, currency=None, **extra):
        from billing.models import Activity

        target_type, target_id = target if target else (None, None)
        currency_given = {} if currency is None else {"amount_currency": currency}
        self.writer.add(
            Activity,
            {
                "id": self.ids.take(Activity),
                "created_at": at,
                "actor_kind": "system",
                "actor_user_id": None,
                "actor_label": ACTOR_LABEL,
                "verb": verb,
                "member_id": member_id,
                "invoice_id": invoice_id,
                "target_type_id": target_type,
                "target_id": target_id,
                "amount": amount,
                **currency_given,
                "status_before": extra.get("status_before", ""),
                "status_after": extra.get("status_after", ""),
                "message": "",
                "data": extra.get("data", {}),
            },
        )
        self.activity_count += 1

    def members_write(self) -> None:
        from members.models import Member
        from payments.models import PaymentMethod

        for index in range(self.sizes["members"]):
            member_id = self.ids.take(Member)
            currency = ("EUR", "EUR", "EUR", "EUR", "CHF", "GBP")[index % 6]
            company = index % 4 == 0
            self.writer.add(
                Member,
                {
                    "id": member_id,
                    "name": f"{'Bench Company' if company else 'Bench Member'} {member_id:06d}",
                    "kind": "company" if company else "person",
                    "email": f"member{member_id}@bench.example",
                    "billing_address": f"{member_id} Bench Street\n1000 Bench City",
                    "default_currency": currency,
                    "user_id": None,
                    "gateway_customer_id": f"cus_bench_{member_id}",
                    "created_at": self.now - datetime.timedelta(days=SPAN_DAYS + 30),
                },
            )
            card_id = self.ids.take(PaymentMethod)
            self.writer.add(
                PaymentMethod,
                {
                    "id": card_id,
                    "member_id": member_id,
                    "gateway": "sandbox",
                    "gateway_id": f"pm_bench_{card_id}",
                    "brand": ("visa", "mastercard", "amex")[index % 3],
                    "last4": f"{4242 + index % 5000:04d}"[-4:],
                    "exp_month": 1 + index % 12,
                    "exp_year": self.today.year + 1 + index % 4,
                    "is_default": True,
                    "created_at": self.now - datetime.timedelta(days=SPAN_DAYS + 30),
                    "removed_at": None,
                },
            )
            self.members.append((member_id, currency, card_id))
            self.extra_activities.append(
                ("payment_method.added", {"member_id": member_id, "target_card": card_id, "at": self.now})
            )
        self.writer.flush()

    def invoices_write(self) -> None:
        invoices, payments = self.sizes["invoices"], self.sizes["payments"]
        for index in range(invoices):
            slots = payments // invoices + (1 if index < payments % invoices else 0)
            self.invoice_write(index, slots)
            if (index + 1) % CHUNK == 0:
                self.writer.flush()
        self.writer.flush()

    def invoice_write(self, index: int, slots: int) -> None:
        from billing.models import Invoice, InvoiceLine

        member_id, currency, card_id = self.members[index % len(self.members)]
        kind = index % 20
        invoice_id = self.ids.take(Invoice)
        issue_date = self.today - datetime.timedelta(days=SPAN_DAYS - index * SPAN_DAYS // self.sizes["invoices"])
        issued_at = timezone.make_aware(datetime.datetime.combine(issue_date, datetime.time(9)))
        tax_rate = TAX_RATES[currency]
        subtotal = tax_total = 0
        for position in range(1 + index % 3):
            description, prices = PRODUCTS[(index + position * 3) % len(PRODUCTS)]
            unit = Decimal(prices[currency])
            quantity = Decimal(1 + (index + position) % 4) * (50 if unit < 1 else 1)
            amount = (quantity * unit).quantize(CENT, ROUND_HALF_UP)
            tax = (amount * tax_rate / 100).quantize(CENT, ROUND_HALF_UP)
            subtotal += _cents(amount)
            tax_total += _cents(tax)
            self.writer.add(
                InvoiceLine,
                {
                    "id": self.ids.take(InvoiceLine),
                    "invoice_id": invoice_id,
                    "position": position,
                    "description": f"{description}: {issue_date:%B %Y}",
                    "quantity": quantity,
                    "unit_amount": unit,
                    "unit_amount_currency": currency,
                    "tax_rate": tax_rate,
                    "amount": amount,
                    "amount_currency": currency,
                    "tax": tax,
                    "tax_currency": currency,
                },
            )
        total = subtotal + tax_total
        status = {0: "draft", 1: "void", 2: "uncollectible", 3: "open", 4: "open", 5: "open"}.get(kind)
        status = status or ("open" if kind in (6, 7, 8) else "paid")
        row = {
            "id": invoice_id,
            "number": None,
            "member_id": member_id,
            "currency": currency,
            "status": status,
            "issue_date": None,
            "due_date": None,
            "memo": "",
            "created_at": issued_at - datetime.timedelta(days=1),
            "issued_at": None,
            "paid_at": None,
            "voided_at": None,
        }
        context = {
            "invoice_id": invoice_id,
            "member_id": member_id,
            "currency": currency,
            "card_id": card_id,
            "date": issue_date,
            "index": index,
        }
        credited = balance_applied = paid = 0
        if status != "draft":
            row["number"] = self.numbers.take("INV", issue_date.year)
            row["issue_date"] = issue_date
            row["due_date"] = issue_date + datetime.timedelta(days=14)
            row["issued_at"] = issued_at
            self.activity(
                verb="invoice.issued",
                at=issued_at,
                member_id=member_id,
                invoice_id=invoice_id,
                amount=_money(total),
                currency=currency,
                status_before="draft",
                status_after="open",
            )
        if kind == 9:
            balance_applied = self.balance_apply(context, min(total, 3000))
        if kind == 10:
            credited = self.credit_note_issue(context, row["number"], max(1, total // 10))
        due = total - credited - balance_applied
        if status == "draft":
            self.prepayments_write(context, slots)
        elif status == "void":
            self.voided_payments_write(context, slots, due)
            row["voided_at"] = issued_at + datetime.timedelta(days=20)
            self.activity(
                verb="invoice.voided",
                at=row["voided_at"],
                member_id=member_id,
                invoice_id=invoice_id,
                status_before="open",
                status_after="void",
            )
        elif kind in (3, 4, 5):
            self.failed_charges_write(context, slots, due)
        else:
            paid = self.payments_write(context, max(1, slots), due if status == "paid" else due // 2)
            if status == "paid":
                row["paid_at"] = issued_at + datetime.timedelta(days=3 * max(1, slots))
                self.extra_activities.append(
                    ("invoice.paid", {"member_id": member_id, "invoice_id": invoice_id, "at": row["paid_at"]})
                )
        if status == "uncollectible":
            self.activity(
                verb="invoice.marked_uncollectible",
                at=issued_at + datetime.timedelta(days=60),
                member_id=member_id,
                invoice_id=invoice_id,
                status_before="open",
                status_after="uncollectible",
            )
        remaining = total - credited - balance_applied - paid
        for column, cents in (
            ("subtotal", subtotal),
            ("tax_total", tax_total),
            ("total", total),
            ("amount_credited", credited),
            ("amount_balance_applied", balance_applied),
            ("amount_paid", paid),
            ("amount_remaining", remaining),
        ):
            row[column] = _money(cents)
            row[f"{column}_currency"] = currency
        self.writer.add(Invoice, row)

    def balance_apply(self, context: dict, cents: int) -> int:
        """A credit to the member's money balance (a little more than is applied), then applied to the invoice."""
        from billing.models import MoneyBalanceEntry

        at = timezone.make_aware(datetime.datetime.combine(context["date"], datetime.time(8)))
        for kind, amount, invoice_id, verb in (
            ("adjustment", cents + 2000, None, "balance.credited"),
            ("applied", -cents, context["invoice_id"], "balance.applied"),
        ):
            entry_id = self.ids.take(MoneyBalanceEntry)
            self.writer.add(
                MoneyBalanceEntry,
                {
                    "id": entry_id,
                    "member_id": context["member_id"],
                    "amount": _money(amount),
                    "amount_currency": context["currency"],
                    "kind": kind,
                    "invoice_id": invoice_id,
                    "note": "Referral bonus" if kind == "adjustment" else "",
                    "actor_label": ACTOR_LABEL,
                    "created_by_id": None,
                    "created_at": at,
                },
            )
            self.activity(
                verb=verb,
                at=at,
                member_id=context["member_id"],
                invoice_id=invoice_id,
                target=(self.entry_type, entry_id),
                amount=_money(abs(amount)),
                currency=context["currency"],
            )
        return cents

    def credit_note_issue(self, context: dict, invoice_number: str, cents: int) -> int:
        """A credit note that reduces what was still owed (its pre-payment part)."""
        from billing.models import CreditNote

        at = timezone.make_aware(datetime.datetime.combine(context["date"], datetime.time(10)))
        currency = context["currency"]
        number = self.numbers.take("CN", context["date"].year)
        self.writer.add(
            CreditNote,
            {
                "id": self.ids.take(CreditNote),
                "number": number,
                "invoice_id": context["invoice_id"],
                "currency": currency,
                "amount": _money(cents),
                "amount_currency": currency,
                "reason": "order_change",
                "memo": f"Discount on {invoice_number}",
                "pre_payment_amount": _money(cents),
                "pre_payment_amount_currency": currency,
                "refund_amount": _money(0),
                "refund_amount_currency": currency,
                "credit_amount": _money(0),
                "credit_amount_currency": currency,
                "out_of_band_amount": _money(0),
                "out_of_band_amount_currency": currency,
                "actor_label": ACTOR_LABEL,
                "created_at": at,
                "status": "issued",
            },
        )
        self.activity(
            verb="credit_note.issued",
            at=at,
            member_id=context["member_id"],
            invoice_id=context["invoice_id"],
            amount=_money(cents),
            currency=currency,
            data={"credit_note": number},
        )
        return cents

    def payment_row(self, context: dict, *, serial: int, cents: int, method: str, status: str, invoice_id) -> dict:
        from payments.models import Payment

        at = timezone.make_aware(
            datetime.datetime.combine(
                min(self.today, context["date"] + datetime.timedelta(days=3 * (serial + 1))), datetime.time(12)
            )
        )
        currency = context["currency"]
        payment_id = self.ids.take(Payment)
        zero = _money(0)
        row = {
            "id": payment_id,
            "number": self.numbers.take("PAY", at.year),
            "member_id": context["member_id"],
            "invoice_id": invoice_id,
            "currency": currency,
            "amount": _money(cents),
            "amount_currency": currency,
            "method": method,
            "external_kind": EXTERNAL_KINDS[payment_id % 4] if method == "external" else "",
            "reference": f"REF-{payment_id}" if method == "external" else "",
            "received_on": at.date() if method == "external" else None,
            "payment_method_id": context["card_id"] if method == "card" else None,
            "status": status,
            "created_at": at,
            "succeeded_at": at if status in ("succeeded", "void") else None,
        }
        for column in ("amount_allocated", "amount_refunded", "amount_refund_pending", "amount_unallocated"):
            row[column] = zero
            row[f"{column}_currency"] = currency
        return row

    def attempt_write(self, context: dict, payment: dict, *, succeeded: bool) -> None:
        from payments.models import PaymentAttempt, PaymentTarget

        self.writer.add(
            PaymentAttempt,
            {
                "id": self.ids.take(PaymentAttempt),
                "uid": uuid.uuid4(),
                "payment_id": payment["id"],
                "payment_method_id": context["card_id"],
                "amount": payment["amount"],
                "amount_currency": payment["currency"],
                "status": "succeeded" if succeeded else "failed",
                "trigger": "staff",
                "gateway": "sandbox",
                "gateway_payment_id": f"pi_bench_{payment['id']}",
                "gateway_charge_id": f"ch_bench_{payment['id']}" if succeeded else "",
                "decline_code": "" if succeeded else "insufficient_funds",
                "failure_message": "" if succeeded else "Your card has insufficient funds.",
                "created_at": payment["created_at"],
                "sent_at": payment["created_at"],
                "finished_at": payment["created_at"],
            },
        )
        if payment["invoice_id"] is not None:
            self.writer.add(
                PaymentTarget,
                {
                    "id": self.ids.take(PaymentTarget),
                    "payment_id": payment["id"],
                    "invoice_id": payment["invoice_id"],
                    "amount": payment["amount"],
                    "amount_currency": payment["currency"],
                    "position": 0,
                },
            )
        self.extra_activities.append(
            (
                "payment.charge_requested",
                {"member_id": context["member_id"], "invoice_id": payment["invoice_id"], "at": payment["created_at"]},
            )
        )

    def allocation_write(self, context: dict, payment: dict, cents: int, *, removed: bool = False) -> None:
        from payments.models import Allocation

        number = self.numbers.take("ALC", payment["created_at"].year)
        self.writer.add(
            Allocation,
            {
                "id": self.ids.take(Allocation),
                "number": number,
                "payment_id": payment["id"],
                "invoice_id": context["invoice_id"],
                "amount": _money(0 if removed else cents),
                "amount_currency": payment["currency"],
                "original_amount": _money(cents),
                "original_amount_currency": payment["currency"],
                "status": "removed" if removed else "active",
                "actor_label": ACTOR_LABEL,
                "created_at": payment["created_at"],
                "removed_at": payment["created_at"] + datetime.timedelta(days=2) if removed else None,
                "removed_reason": "Payment voided" if removed else "",
            },
        )
        self.activity(
            verb="payment.allocated",
            at=payment["created_at"],
            member_id=context["member_id"],
            invoice_id=context["invoice_id"],
            target=(self.payment_type, payment["id"]),
            amount=_money(cents),
            currency=payment["currency"],
            data={"allocation": number, "payment": payment["number"]},
        )

    def received_record(self, context: dict, payment: dict) -> None:
        self.activity(
            verb="payment.received" if payment["method"] == "external" else "payment.succeeded",
            at=payment["created_at"],
            member_id=context["member_id"],
            invoice_id=payment["invoice_id"],
            target=(self.payment_type, payment["id"]),
            amount=payment["amount"],
            currency=payment["currency"],
            status_after="succeeded",
            data={"payment": payment["number"], "reference": payment["reference"]},
        )

    def payments_write(self, context: dict, count: int, cents: int) -> int:
        """`count` succeeded payments that pay `cents` of the invoice between them; returns what they paid."""
        from payments.models import Payment, Refund

        count = max(1, min(count, cents))
        paid = 0
        for serial in range(count):
            part = cents // count + (cents % count if serial == count - 1 else 0)
            if part <= 0:
                continue
            method = "card" if (context["index"] + serial) % 3 == 2 else "external"
            extra = 500 if serial == count - 1 and context["index"] % 4 in (0, 1) else 0
            row = self.payment_row(
                context,
                serial=serial,
                cents=part + extra,
                method=method,
                status="succeeded",
                invoice_id=context["invoice_id"],
            )
            row["amount_allocated"] = _money(part)
            if extra and method == "external" and context["index"] % 4 == 1:
                # Paid too much by mistake; the excess was refunded at once.
                row["amount_refunded"] = _money(extra)
                self.writer.add(
                    Refund,
                    {
                        "id": self.ids.take(Refund),
                        "uid": uuid.uuid4(),
                        "payment_id": row["id"],
                        "amount": _money(extra),
                        "amount_currency": row["currency"],
                        "kind": "recorded",
                        "reason": "duplicate",
                        "invoice_handling": "",
                        "status": "succeeded",
                        "actor_label": ACTOR_LABEL,
                        "created_at": row["created_at"],
                        "finished_at": row["created_at"],
                    },
                )
                self.activity(
                    verb="payment.refunded",
                    at=row["created_at"],
                    member_id=context["member_id"],
                    invoice_id=context["invoice_id"],
                    target=(self.payment_type, row["id"]),
                    amount=_money(extra),
                    currency=row["currency"],
                )
            else:
                row["amount_unallocated"] = _money(extra)
            self.writer.add(Payment, row)
            if method == "card":
                self.attempt_write(context, row, succeeded=True)
            self.received_record(context, row)
            self.allocation_write(context, row, part)
            paid += part
        return paid

    def prepayments_write(self, context: dict, count: int) -> None:
        """Money the member paid ahead, unallocated (their invoice is still a draft)."""
        from payments.models import Payment

        for serial in range(count):
            row = self.payment_row(
                context, serial=serial, cents=5000, method="external", status="succeeded", invoice_id=None
            )
            row["amount_unallocated"] = row["amount"]
            self.writer.add(Payment, row)
            self.received_record(context, row)

    def voided_payments_write(self, context: dict, count: int, cents: int) -> None:
        """Payments recorded by mistake and voided: their allocations are removed, the invoice then voided."""
        from payments.models import Payment

        count = max(1, min(count, cents)) if count else 0
        for serial in range(count):
            part = cents // count + (cents % count if serial == count - 1 else 0)
            row = self.payment_row(
                context, serial=serial, cents=part, method="external", status="void", invoice_id=context["invoice_id"]
            )
            row["voided_at"] = row["created_at"] + datetime.timedelta(days=2)
            row["void_reason"] = "Recorded by mistake"
            self.writer.add(Payment, row)
            self.received_record(context, row)
            self.allocation_write(context, row, part, removed=True)
            self.activity(
                verb="payment.voided",
                at=row["voided_at"],
                member_id=context["member_id"],
                invoice_id=context["invoice_id"],
                target=(self.payment_type, row["id"]),
                status_before="succeeded",
                status_after="void",
            )

    def failed_charges_write(self, context: dict, count: int, cents: int) -> None:
        """Card charges of the open invoice that the card declined."""
        from payments.models import Payment

        for serial in range(count):
            row = self.payment_row(
                context, serial=serial, cents=cents, method="card", status="failed", invoice_id=context["invoice_id"]
            )
            row["failure_code"] = "card_declined"
            row["failure_message"] = "Your card has insufficient funds."
            self.writer.add(Payment, row)
            self.attempt_write(context, row, succeeded=False)
            self.activity(
                verb="payment.failed",
                at=row["created_at"],
                member_id=context["member_id"],
                invoice_id=context["invoice_id"],
                target=(self.payment_type, row["id"]),
                status_before="processing",
                status_after="failed",
            )

    def extra_activities_write(self) -> None:
        """Activity the invariants do not ask for (cards added, invoices paid, charges requested), up to the
        number of activities asked for."""
        from django.contrib.contenttypes.models import ContentType

        from payments.models import PaymentMethod

        card_type = ContentType.objects.get_for_model(PaymentMethod).pk
        budget = self.sizes["activities"] - self.activity_count
        candidates = self.extra_activities
        written = 0
        while written < budget and candidates:
            for verb, data in candidates:
                if written >= budget:
                    break
                target = (card_type, data["target_card"]) if "target_card" in data else None
                self.activity(
                    verb=verb if written < len(candidates) else "invoice.updated",
                    at=data["at"],
                    member_id=data["member_id"],
                    invoice_id=data.get("invoice_id"),
                    target=target,
                )
                written += 1
                if written % (CHUNK * 10) == 0:
                    self.writer.flush()
        self.writer.flush()

    def finish(self) -> None:
        from billing.models import (
            Activity,
            CreditNote,
            Invoice,
            InvoiceLine,
            MoneyBalanceEntry,
        )
        from members.models import Member
        from payments.models import Allocation, Payment, PaymentAttempt, PaymentMethod, PaymentTarget, Refund

        self.numbers.save()
        models = [
            Member,
            PaymentMethod,
            Invoice,
            InvoiceLine,
            CreditNote,
            MoneyBalanceEntry,
            Payment,
            PaymentTarget,
            PaymentAttempt,
            Allocation,
            Refund,
            Activity,
        ]
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), models):
                cursor.execute(statement)
            if connection.vendor == "postgresql":
                for model in models:
                    cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def dataset_build(*, members: int, invoices: int, payments: int, activities: int) -> dict[str, int]:
    """Add the data set to the current database, in one transaction; returns the rows written per table. Payments
    and activities are approximate: each invoice gets its share of payments (at least one when it is paid), and
    the activity the invariants need is always written, extra activity only up to `activities`."""
    builder = _Builder(members=members, invoices=invoices, payments=payments, activities=activities)
    with transaction.atomic():
        builder.members_write()
        builder.invoices_write()
        builder.extra_activities_write()
        builder.finish()
    return {model._meta.db_table: count for model, count in builder.writer.written.items()}


def main() -> None:
    import time

    import common

    parser = common.parser_create(__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=("tiny", "small", "full"), default="small")
    parser.add_argument(
        "--into-configured-database",
        action="store_true",
        help="write into the database of DATABASE_URL (migrated) and keep it, instead of a throw-away one",
    )
    args = parser.parse_args()
    sizes = scale("tiny" if args.smoke else args.scale)

    def run():
        from payments.integrity import billing_integrity_violations

        started = time.perf_counter()
        written = dataset_build(**sizes)
        built = time.perf_counter() - started
        for table, count in sorted(written.items()):
            print(f"{table}: {count} rows")
        print(f"built in {built:.1f} s ({connection.vendor}, {sizes})")
        started = time.perf_counter()
        violations = billing_integrity_violations()
        print(f"integrity check: {len(violations)} violations in {time.perf_counter() - started:.1f} s")
        for violation in violations[:20]:
            print("  " + violation)
        if violations:
            raise SystemExit(1)

    if args.into_configured_database:
        run()
    else:
        with common.throwaway_database():
            run()


if __name__ == "__main__":
    main()
