"""The demo space's members and every demo login: the staff's (a superuser and one login per role) and the members'
portal logins. Called by the `seed_demo` command, before billing and payments seed what they own."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import CommandError
from django.db import transaction

from members.models import Member

ADMIN_USERNAME = "admin"
ADMIN_EMAIL = "admin@coworking.example"
MEMBER_PASSWORD = "member-demo"
# Staff logins with a role (the groups a migration creates), not superusers: (username, password, group).
ROLE_LOGINS = [
    ("frontdesk", "frontdesk", "Front desk"),
    ("accountant", "accountant", "Accountants"),
]
DEFAULT_MEMBERS = 6
# Sandbox test cards (Stripe's test numbers): one that pays, one that is saved but declined on every charge.
WORKING_CARD = "4242424242424242"
DECLINING_CARD = "4000000000000341"


@dataclass(frozen=True)
class DemoMember:
    key: str
    name: str
    kind: str
    email: str
    currency: str
    address: str
    portal: bool = False
    card: str = ""  # the sandbox test card saved for the member (payments/sandbox/demo.py), if any
    language: str = ""  # the portal's, the mails' and the PDFs' (blank: the browser's)


DEMO_MEMBERS = (
    DemoMember(
        "lea",
        "Léa Martin",
        Member.Kind.PERSON,
        "lea.martin@example.com",
        "EUR",
        "12 rue des Petites Écuries\n75010 Paris\nFrance",
        portal=True,
        card=WORKING_CARD,
        language="fr",
    ),
    DemoMember(
        "northwind",
        "Northwind Studio SARL",
        Member.Kind.COMPANY,
        "accounts@northwind-studio.example",
        "EUR",
        "48 quai de Jemmapes\n75010 Paris\nFrance",
        portal=True,
        card=WORKING_CARD,
        language="fr",
    ),
    DemoMember(
        "jonas",
        "Jonas Weber",
        Member.Kind.PERSON,
        "jonas.weber@example.com",
        "EUR",
        "Oranienstraße 185\n10999 Berlin\nGermany",
        card=WORKING_CARD,
        language="de",
    ),
    DemoMember(
        "brightpixel",
        "Bright Pixel GmbH",
        Member.Kind.COMPANY,
        "finance@brightpixel.example",
        "EUR",
        "Torstraße 92\n10119 Berlin\nGermany",
        card=DECLINING_CARD,
        language="de",
    ),
    DemoMember(
        "sakura",
        "Sakura Design K.K.",
        Member.Kind.COMPANY,
        "keiri@sakura-design.example",
        "JPY",
        "2-11-3 Jingumae, Shibuya-ku\nTokyo 150-0001\nJapan",
        card=WORKING_CARD,
    ),
    DemoMember(
        "oliver",
        "Oliver Bennett",
        Member.Kind.PERSON,
        "oliver.bennett@example.co.uk",
        "GBP",
        "27 Redchurch Street\nLondon E2 7DJ\nUnited Kingdom",
    ),
)

EXTRA_FIRST_NAMES = ("Amélie", "Marco", "Sofia", "Tomás", "Ingrid", "Yusuf", "Clara", "Mateo", "Nina", "Pieter")
EXTRA_LAST_NAMES = ("Dubois", "Rossi", "Novak", "García", "Lindqvist", "Demir", "Fischer", "Silva", "Kowalski")
EXTRA_STREETS = ("rue Oberkampf", "rue de Charonne", "boulevard Voltaire", "rue du Faubourg Saint-Denis")


# Members -------------------------------------------------------------------------------------------------------


def demo_members_create() -> dict[str, Member] | None:
    """The story's members by key, or None when they all exist already (the story then runs no more).

    A database that holds some of them only is refused: the story cannot be finished from the middle."""
    emails = [demo.email for demo in DEMO_MEMBERS]
    existing = set(Member.objects.filter(email__in=emails).values_list("email", flat=True))
    if len(existing) == len(emails):
        return None
    if existing:
        raise CommandError(
            "The database holds part of the demo data (members "
            + ", ".join(sorted(existing))
            + "), probably from an interrupted run. Start from an empty database: remove var/db.sqlite3 "
            "(or drop the PostgreSQL database), then run `make seed`."
        )
    with transaction.atomic():
        return {
            demo.key: Member.objects.create(
                name=demo.name,
                kind=demo.kind,
                email=demo.email,
                billing_address=demo.address,
                default_currency=demo.currency,
                language=demo.language,
            )
            for demo in DEMO_MEMBERS
        }


def demo_members_get() -> dict[str, Member]:
    return {demo.key: Member.objects.get(email=demo.email) for demo in DEMO_MEMBERS}


def demo_generated_member_create(*, index: int) -> Member | None:
    """The `index`th generated member (`--members`), or None when it exists already."""
    email = f"member{index:04d}@members.example"
    if Member.objects.filter(email=email).exists():
        return None
    first = EXTRA_FIRST_NAMES[index % len(EXTRA_FIRST_NAMES)]
    last = EXTRA_LAST_NAMES[(index // len(EXTRA_FIRST_NAMES)) % len(EXTRA_LAST_NAMES)]
    return Member.objects.create(
        name=f"{first} {last}",
        kind=Member.Kind.PERSON,
        email=email,
        billing_address=f"{index} {EXTRA_STREETS[index % len(EXTRA_STREETS)]}\n75011 Paris\nFrance",
        default_currency="EUR",
    )


def demo_members_summary() -> list[str]:
    return [f"Members: {Member.objects.count()}"]


# Logins --------------------------------------------------------------------------------------------------------


def demo_admin_ensure(*, password: str):
    """The superuser the demo acts as, and whether it was created now (an existing one keeps its password)."""
    User = get_user_model()
    user = User.objects.filter(username=ADMIN_USERNAME).first()
    if user is not None:
        return user, False
    return User.objects.create_superuser(ADMIN_USERNAME, ADMIN_EMAIL, password), True


def demo_role_logins_ensure() -> list[tuple[str, str, str]]:
    """Staff users in the front desk and accountants groups, to try the admin as each role sees it. Returns
    (username, password or "" when an existing account has another one, group) for each."""
    User = get_user_model()
    logins = []
    for username, password, group_name in ROLE_LOGINS:
        group = Group.objects.filter(name=group_name).first()
        if group is None:
            raise CommandError(f"The group “{group_name}” does not exist: run `manage.py migrate` first.")
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_user(username, f"{username}@coworking.example", password, is_staff=True)
        user.groups.add(group)
        logins.append((username, password if user.check_password(password) else "", group_name))
    return logins


def demo_portal_logins_ensure() -> list[str]:
    """Portal users for the story's members that have one: the email is the username; never staff."""
    User = get_user_model()
    emails = []
    for demo in DEMO_MEMBERS:
        if not demo.portal:
            continue
        member = Member.objects.get(email=demo.email)
        if member.user_id is None:
            user = User.objects.filter(username=demo.email).first()
            if user is None:
                user = User.objects.create_user(demo.email, demo.email, MEMBER_PASSWORD)
                user.first_name = demo.name if demo.kind == Member.Kind.PERSON else ""
                user.save(update_fields=["first_name"])
            member.user = user
            member.save(update_fields=["user"])
        emails.append(member.user.get_username())
    return emails
