"""Factories shared by every app's tests. Money-moving rows are made through the services, never by hand, so the
cached amounts and the activity are what production would have."""

import contextlib
import datetime
from decimal import Decimal

import factory
import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from djmoney.money import Money

from billing.activity import Actor
from billing.errors import BillingError
from billing.models import Activity, Invoice, InvoiceLine, MoneyBalanceEntry, NumberSequence
from billing.numbering import PAYMENT, number_next
from billing.services.invoice_draft import LineInput, invoice_draft_create
from billing.services.invoice_issue import invoice_issue
from members.models import Member
from payments.models import Allocation, Payment, PaymentMethod, PaymentTarget
from payments.services.payment_external import payment_create_external, payment_create_standalone
from payments.services.payment_method import payment_method_add

SYSTEM = Actor.system("tests")


def eur(amount: str) -> Money:
    return Money(amount, "EUR")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@space.example")
    password = factory.PostGenerationMethodCall("set_password", "password")


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    name = factory.Sequence(lambda n: f"Member {n}")
    email = factory.Sequence(lambda n: f"member{n}@space.example")
    default_currency = "EUR"


def draft_invoice(
    *,
    member: Member | None = None,
    amounts: list[str] = ("100.00",),
    currency: str = "EUR",
    tax_rate: str = "0",
    due_date: datetime.date | None = None,
    actor: Actor = SYSTEM,
) -> Invoice:
    """A draft with one line per amount (quantity 1)."""
    member = member or MemberFactory(default_currency=currency)
    lines = [
        LineInput(
            description=f"Line {index}",
            quantity=Decimal(1),
            unit_amount=Money(amount, currency),
            tax_rate=Decimal(tax_rate),
        )
        for index, amount in enumerate(amounts, start=1)
    ]
    return invoice_draft_create(member=member, actor=actor, lines=lines, currency=currency, due_date=due_date)


def open_invoice(*, apply_credit: bool = False, actor: Actor = SYSTEM, **kwargs) -> Invoice:
    """An issued invoice (credit not applied unless asked)."""
    return invoice_issue(invoice=draft_invoice(actor=actor, **kwargs), actor=actor, apply_credit=apply_credit)


def external_payment(*, invoice: Invoice, amount: str | None = None, kind: str = "cash", actor: Actor = SYSTEM):
    return payment_create_external(
        invoice=invoice,
        actor=actor,
        kind=kind,
        amount=Money(amount, invoice.currency) if amount is not None else None,
    )


def standalone_payment(*, member: Member, amount: str, currency: str = "EUR", actor: Actor = SYSTEM):
    return payment_create_standalone(member=member, actor=actor, amount=Money(amount, currency), kind="bank_transfer")


def reload(instance):
    """A fresh copy from the database (refresh_from_db cannot set protected FSM fields)."""
    return type(instance).objects.get(pk=instance.pk)


def member_actor(member: Member | None = None) -> Actor:
    """A member acting through the portal (their login), to check that staff-only services refuse them."""
    user = UserFactory()
    if member is not None:
        Member.objects.filter(pk=member.pk).update(user=user)
    return Actor.member(user)


def card_payment(*, invoice: Invoice, amount: str, status: str = "processing"):
    """A card payment row for the invoice, written directly (the card services are not involved): in flight at
    the gateway by default. It takes a real PAY number so the books stay gapless."""
    method = PaymentMethod.objects.create(
        member=invoice.member,
        gateway="sandbox",
        gateway_id=f"pm_test_{PaymentMethod.objects.count() + 1}_{invoice.pk}",
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=timezone.localdate().year + 3,
    )
    value = Money(amount, invoice.currency)
    with transaction.atomic():
        payment = Payment.objects.create(
            number=number_next(series=PAYMENT, year=timezone.localdate().year),
            member=invoice.member,
            invoice=invoice,
            currency=invoice.currency,
            amount=value,
            method="card",
            payment_method=method,
            status=status,
            amount_unallocated=value if status == "succeeded" else Money(0, invoice.currency),
            succeeded_at=timezone.now() if status == "succeeded" else None,
        )
        PaymentTarget.objects.create(payment=payment, invoice=invoice, amount=value)
        return payment


def books_snapshot(*, extra_models=()) -> dict:
    """Every row that a money service may write, as plain values, to compare before and after a refusal:
    invoices and their lines, payments, allocations, money balance entries, number sequences, activity (and the
    `extra_models` a test cares about, such as payment attempts)."""
    models = (Member, Invoice, InvoiceLine, Payment, Allocation, MoneyBalanceEntry, NumberSequence, Activity)
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in (*models, *extra_models)}


@contextlib.contextmanager
def refused(match: str, *, extra_models=()):
    """Expect a BillingError whose message matches `match` (a regular expression, searched), and check that the
    books (and the rows of `extra_models`) did not change at all."""
    before = books_snapshot(extra_models=extra_models)
    with pytest.raises(BillingError, match=match) as excinfo:
        yield excinfo
    assert books_snapshot(extra_models=extra_models) == before


def saved_card(member: Member, number: str = "4242424242424242", *, actor: Actor = SYSTEM, make_default=False):
    """A card saved through `payment_method_add`, at the gateway of the settings (the sandbox unless the test
    points them at localstripe, where `number` is a PaymentMethod id)."""
    return payment_method_add(member=member, card_token=number, actor=actor, make_default=make_default)
