from django.contrib.auth.management import create_permissions
from django.db import migrations

BILLING_APPS = ("members", "billing", "payments", "bank")


def roles_permissions_grant(apps, schema_editor):
    """The roles of payments' 0005_roles, as they stand with the bank app: billing managers get every permission of
    the billing apps (the bank's: import, match, ignore; confirming and undoing also need payments' record and void
    permissions), accountants every view permission, the front desk the bank's view permissions. Models added
    after 0005_roles (the form intents, the staff's language) are granted here too."""
    for app_label in BILLING_APPS:
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    billing = Permission.objects.filter(content_type__app_label__in=BILLING_APPS)
    for group in Group.objects.filter(name="Billing managers"):
        group.permissions.add(*billing)
    for group in Group.objects.filter(name="Accountants"):
        group.permissions.add(*billing.filter(codename__startswith="view_"))
    for group in Group.objects.filter(name="Front desk"):
        group.permissions.add(*billing.filter(content_type__app_label="bank", codename__startswith="view_"))


class Migration(migrations.Migration):
    dependencies = [
        ("bank", "0001_initial"),
        ("members", "0003_member_language"),
        ("billing", "0009_verbose_names"),
        ("payments", "0013_verbose_names"),
    ]

    operations = [migrations.RunPython(roles_permissions_grant, migrations.RunPython.noop)]
