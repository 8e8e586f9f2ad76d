"""billing/rows.py writes and reads the rows the ORM would, to the byte: the compiled statements on PostgreSQL, the
ORM's own calls on SQLite (the suite runs on both)."""

import datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from djmoney.money import Money

from billing.activity import activity_build
from billing.models import Activity, Invoice, InvoiceStatus
from billing.rows import row_insert_unless_exists, row_lock, row_update, rows_insert, rows_together
from members.models import Member
from payments.models import OutboxMessage, Payment, WebhookEvent
from tests.factories import SYSTEM, MemberFactory, UserFactory, open_invoice, reload

pytestmark = pytest.mark.django_db


def columns(instance) -> dict:
    """Every column's value, as read back from the database (Money split into amount and currency)."""
    fresh = reload(instance)
    return {field.attname: getattr(fresh, field.attname) for field in type(fresh)._meta.concrete_fields}


def test_rows_insert_writes_what_save_writes():
    invoice = open_invoice(amounts=["80.00"])
    user = UserFactory()
    fields = dict(
        member=invoice.member,
        invoice=invoice,
        currency="EUR",
        amount=Money("12.50", "EUR"),
        method="external",
        external_kind="cash",
        reference="  ref ",
        received_on=datetime.date(2026, 3, 1),
        status="succeeded",
        amount_allocated=Money("0.00", "EUR"),
        amount_unallocated=Money("12.50", "EUR"),
        note="é ümlaut",
        created_by=user,
        created_at=timezone.now(),
        succeeded_at=timezone.now(),
    )
    saved = Payment(number="PAY-TEST-1", **fields)
    saved.save()
    inserted = Payment(number="PAY-TEST-2", **fields)
    with CaptureQueriesContext(connection) as queries:
        rows_insert([inserted])

    assert len(queries.captured_queries) == 1  # counted like the ORM's own queries
    assert inserted.pk is not None and not inserted._state.adding
    expected, got = columns(saved), columns(inserted)
    for row in (expected, got):
        row.pop("id"), row.pop("number")
    assert got == expected
    assert reload(inserted).amount == Money("12.50", "EUR")


def test_rows_insert_writes_several_rows_in_order_with_json_and_nulls():
    member = MemberFactory()
    records = [
        activity_build(actor=SYSTEM, verb="test.first", member=member, data={"a": [1, "ü"], "b": None}),
        activity_build(actor=SYSTEM, verb="test.second", amount=Money("-3.10", "CHF"), message="x"),
        activity_build(actor=SYSTEM, verb="test.third"),
    ]
    rows_insert(records)

    ids = [record.pk for record in records]
    assert ids == sorted(ids)
    stored = {activity.pk: activity for activity in Activity.objects.filter(pk__in=ids)}
    assert [stored[pk].verb for pk in ids] == ["test.first", "test.second", "test.third"]
    assert stored[ids[0]].data == {"a": [1, "ü"], "b": None} and stored[ids[0]].member == member
    assert stored[ids[1]].amount == Money("-3.10", "CHF") and stored[ids[1]].member is None
    assert stored[ids[2]].amount is None and stored[ids[2]].data == {}


def test_rows_insert_refuses_saved_objects_and_mixed_models_and_writes_nothing():
    message = OutboxMessage(task="payments.tasks.mail_send_task", arguments={"x": 1})
    rows_insert([message])
    before = OutboxMessage.objects.count()

    with pytest.raises(ValueError):
        rows_insert([message])
    with pytest.raises(ValueError):
        rows_insert([OutboxMessage(task="t"), activity_build(actor=SYSTEM, verb="test.mixed")])
    assert OutboxMessage.objects.count() == before


def test_rows_insert_breaks_on_a_constraint_like_the_orm():
    invoice = open_invoice(amounts=["10.00"])
    payment = Payment(
        number="PAY-TEST-3",
        member=invoice.member,
        currency="EUR",
        amount=Money("0.00", "EUR"),  # payment_amount_positive
        method="external",
        external_kind="cash",
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        rows_insert([payment])
    assert not Payment.objects.filter(number="PAY-TEST-3").exists()


def test_row_lock_reads_what_get_reads():
    invoice = open_invoice(amounts=["80.00", "19.99"])
    with transaction.atomic():
        locked = row_lock(Invoice, invoice.pk)
        expected = Invoice.objects.get(pk=invoice.pk)
        assert model_to_dict(locked) == model_to_dict(expected)
        assert locked.total == Money("99.99", "EUR") and locked.status == InvoiceStatus.OPEN
        assert locked.issued_at == expected.issued_at and locked.issued_at.tzinfo is not None
        assert not locked._state.adding

        member = row_lock(Member, invoice.member_id, fields=["pk"])
        assert member.pk == invoice.member_id
        assert member.get_deferred_fields() >= {"name", "email"}
        assert member.name == invoice.member.name  # loads when read


def test_row_lock_of_a_missing_row_raises_does_not_exist():
    with pytest.raises(Invoice.DoesNotExist), transaction.atomic():
        row_lock(Invoice, 10**9)


@pytest.mark.django_db(transaction=True)
def test_row_lock_holds_the_row_until_the_transaction_ends():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite locks the whole database, not rows")
    import psycopg

    invoice = open_invoice(amounts=["10.00"])
    parameters = connection.get_connection_params()
    parameters.pop("cursor_factory", None), parameters.pop("context", None)
    with psycopg.connect(**parameters, autocommit=True) as other:
        with transaction.atomic():
            row_lock(Invoice, invoice.pk)
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("SELECT id FROM billing_invoice WHERE id = %s FOR UPDATE NOWAIT", [invoice.pk])
        assert other.execute("SELECT id FROM billing_invoice WHERE id = %s FOR UPDATE NOWAIT", [invoice.pk]).fetchone()


def test_row_update_writes_only_the_named_columns():
    invoice = open_invoice(amounts=["80.00"])
    stale = reload(invoice)
    invoice.amount_paid = Money("30.00", "EUR")
    invoice.amount_remaining = Money("50.00", "EUR")
    invoice.memo = "not written"
    row_update(invoice, ["amount_paid", "amount_remaining"])

    fresh = reload(invoice)
    assert fresh.amount_paid == Money("30.00", "EUR") and fresh.amount_remaining == Money("50.00", "EUR")
    assert fresh.memo == stale.memo and fresh.total == Money("80.00", "EUR")
    assert fresh.amount_paid.amount == Decimal("30.00")


@pytest.mark.parametrize("prepare", [True, False])
def test_statements_are_prepared_unless_turned_off(settings, prepare):
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    settings.BILLING_DATABASE_PREPARE = prepare
    count = 7 if prepare else 6  # a shape of its own: no earlier test of this connection prepared it
    rows_insert([activity_build(actor=SYSTEM, verb=f"test.prepared.{index}") for index in range(count)])

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s",
            ['INSERT INTO "billing_activity"%'],
        )
        shapes = [statement.count("), (") + 1 for (statement,) in cursor.fetchall()]
    assert (count in shapes) is prepare


def test_row_insert_unless_exists_inserts_once_and_the_transaction_goes_on():
    def event(type_: str) -> WebhookEvent:
        return WebhookEvent(gateway="stripe", event_id="evt_once", type=type_, payload={"id": "evt_once"})

    first = event("first")
    with transaction.atomic():
        assert row_insert_unless_exists(first, unique=["gateway", "event_id"]) is True
        second = event("second")
        assert row_insert_unless_exists(second, unique=["gateway", "event_id"]) is False
        assert second.pk is None
        other = WebhookEvent(gateway="sandbox", event_id="evt_once", type="other", payload={})
        assert row_insert_unless_exists(other, unique=["gateway", "event_id"]) is True  # the transaction goes on

    stored = WebhookEvent.objects.get(gateway="stripe")
    assert (stored.pk, stored.type, stored.payload, stored.attempts) == (first.pk, "first", {"id": "evt_once"}, 0)
    assert WebhookEvent.objects.count() == 2


def test_rows_together_sends_the_blocks_writes_as_one_statement_with_their_ids():
    invoice = open_invoice(amounts=["80.00"])
    records = [activity_build(actor=SYSTEM, verb=f"test.together.{index}") for index in range(2)]
    message = OutboxMessage(task="payments.tasks.mail_send_task", arguments={"n": 1})
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        with rows_together():
            rows_insert(records)
            invoice.amount_paid = Money("30.00", "EUR")
            row_update(invoice, ["amount_paid"])
            invoice.amount_paid = Money("99.00", "EUR")  # after the write was asked for: not written
            rows_insert([message])
            if connection.vendor == "postgresql":  # written when the block ends (SQLite: as they come)
                assert message.pk is None and records[0].pk is None
        assert message.pk is not None and [record.pk for record in records] == sorted(r.pk for r in records)

    writes = [
        query["sql"] for query in queries.captured_queries if query["sql"].startswith(("INSERT", "UPDATE", "WITH"))
    ]
    assert len(writes) == (1 if connection.vendor == "postgresql" else 3)
    assert [Activity.objects.get(pk=record.pk).verb for record in records] == ["test.together.0", "test.together.1"]
    assert OutboxMessage.objects.get(pk=message.pk).arguments == {"n": 1}
    assert reload(invoice).amount_paid == Money("30.00", "EUR")


def test_rows_together_writes_nothing_when_its_block_raises():
    before = Activity.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic(), rows_together():
        rows_insert([activity_build(actor=SYSTEM, verb="test.together.raised")])
        raise RuntimeError("the service refused")
    assert Activity.objects.count() == before
