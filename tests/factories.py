"""Factories shared by every app's tests. Money-moving rows are made through the services, never by hand, so the
cached amounts and the activity are what production would have."""

import datetime
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from djmoney.money import Money

from billing.activity import Actor
from billing.models import Invoice
from billing.services.invoice_draft import LineInput, invoice_draft_create
from members.models import Member
from payments.services.invoice_issue import invoice_issue
from payments.services.payment_external import payment_create_external, payment_create_standalone

SYSTEM = Actor.system("tests")


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
