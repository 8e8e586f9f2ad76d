"""A sandbox charge changes status only through its state machine: the status becomes a protected FSMField
(nothing changes in the database; the table keeps its `payments_sandboxcharge` name)."""

import django_fsm
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("sandbox", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="sandboxcharge",
            name="status",
            field=django_fsm.FSMField(
                choices=[
                    ("requires_confirmation", "Requires confirmation"),
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                    ("requires_action", "Requires action"),
                ],
                default="requires_confirmation",
                max_length=32,
                protected=True,
            ),
        ),
    ]
