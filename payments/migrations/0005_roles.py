"""The billing roles as Django groups: billing managers (everything), front desk (record external payments, view),
accountants (view everything, reports and exports, credit notes). Also declares the reports permission.

The groups are defined here, as they were when this migration was written; later changes to a role need a
migration of their own.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

BILLING_APPS = ("members", "billing", "payments")

BILLING_MANAGERS = "Billing managers"
FRONT_DESK = "Front desk"
ACCOUNTANTS = "Accountants"

FRONT_DESK_PERMISSIONS = [
    "payments.record_external_payment",
    "members.view_member",
    "billing.view_invoice",
    "billing.view_creditnote",
    "billing.view_moneybalanceentry",
    "billing.view_activity",
    "payments.view_payment",
]

ACCOUNTANT_PERMISSIONS = [
    "payments.view_billing_reports",
    "billing.issue_credit_note",
]


def _permissions_create(apps):
    """The permissions of the billing apps exist before the groups refer to them (a fresh database gets them only
    after every migration ran)."""
    for app_label in BILLING_APPS:
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def _permissions(apps, names):
    Permission = apps.get_model("auth", "Permission")
    permissions = []
    for name in names:
        app_label, codename = name.split(".")
        permissions.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return permissions


def roles_create(apps, schema_editor):
    _permissions_create(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    in_billing_apps = Permission.objects.filter(content_type__app_label__in=BILLING_APPS)

    managers, _ = Group.objects.get_or_create(name=BILLING_MANAGERS)
    managers.permissions.set(in_billing_apps)

    front_desk, _ = Group.objects.get_or_create(name=FRONT_DESK)
    front_desk.permissions.set(_permissions(apps, FRONT_DESK_PERMISSIONS))

    accountants, _ = Group.objects.get_or_create(name=ACCOUNTANTS)
    viewing = in_billing_apps.filter(codename__startswith="view_")
    accountants.permissions.set([*viewing, *_permissions(apps, ACCOUNTANT_PERMISSIONS)])


def roles_delete(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=[BILLING_MANAGERS, FRONT_DESK, ACCOUNTANTS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("members", "0001_initial"),
        ("billing", "0002_refunds_credit_notes"),
        ("payments", "0004_payment_targets"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="payment",
            options={
                "ordering": ["-id"],
                "permissions": [
                    ("record_external_payment", "Can record external payments"),
                    ("charge_payment", "Can charge saved cards"),
                    ("refund_payment", "Can refund payments"),
                    ("void_payment", "Can void payments"),
                    ("allocate_payment", "Can apply and unallocate payments"),
                    ("view_billing_reports", "Can view billing reports and export them"),
                ],
            },
        ),
        migrations.RunPython(roles_create, roles_delete),
    ]
