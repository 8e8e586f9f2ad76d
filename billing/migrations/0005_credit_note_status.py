"""Credit notes get a state machine, issued -> void (existing ones are issued), and the permission to void them,
given to the billing managers."""

import django.db.models.deletion
import django_fsm
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

BILLING_MANAGERS = "Billing managers"


def permission_grant(apps, schema_editor):
    app_config = apps.get_app_config("billing")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(content_type__app_label="billing", codename="void_credit_note")
    managers, _ = Group.objects.get_or_create(name=BILLING_MANAGERS)
    managers.permissions.add(permission)


def permission_revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="billing", codename="void_credit_note").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0004_form_intent"),
        ("payments", "0005_roles"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="creditnote",
            options={
                "ordering": ["-created_at", "-id"],
                "permissions": [
                    ("issue_credit_note", "Can issue credit notes"),
                    ("void_credit_note", "Can void credit notes"),
                ],
            },
        ),
        migrations.AddField(
            model_name="creditnote",
            name="status",
            field=django_fsm.FSMField(
                choices=[("issued", "Issued"), ("void", "Void")], default="issued", max_length=50, protected=True
            ),
        ),
        migrations.AddField(
            model_name="creditnote",
            name="void_reason",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="creditnote",
            name="voided_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="creditnote",
            name="voided_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(permission_grant, permission_revoke),
    ]
