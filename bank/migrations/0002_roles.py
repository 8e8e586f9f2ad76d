from django.contrib.auth.management import create_permissions
from django.db import migrations


def roles_permissions_grant(apps, schema_editor):
    """The roles of payments' 0005_roles get the bank app's permissions: billing managers all of them (import,
    match, ignore; confirming and undoing also need payments' record and void permissions, which they have),
    front desk and accountants the view permissions."""
    app_config = apps.get_app_config("bank")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    in_bank = Permission.objects.filter(content_type__app_label="bank")
    for group in Group.objects.filter(name="Billing managers"):
        group.permissions.add(*in_bank)
    for group in Group.objects.filter(name__in=("Front desk", "Accountants")):
        group.permissions.add(*in_bank.filter(codename__startswith="view_"))


class Migration(migrations.Migration):
    dependencies = [
        ("bank", "0001_initial"),
        ("payments", "0006_outbox_refund_review"),
    ]

    operations = [migrations.RunPython(roles_permissions_grant, migrations.RunPython.noop)]
