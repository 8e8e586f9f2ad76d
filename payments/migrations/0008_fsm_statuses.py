"""Payment attempts, refunds and allocations change status only through their state machines: the status
becomes a protected FSMField (nothing changes in the database)."""

import django_fsm
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0007_number_sequences"),
    ]

    operations = [
        migrations.AlterField(
            model_name="allocation",
            name="status",
            field=django_fsm.FSMField(
                choices=[("active", "Active"), ("removed", "Removed")], default="active", max_length=16, protected=True
            ),
        ),
        migrations.AlterField(
            model_name="paymentattempt",
            name="status",
            field=django_fsm.FSMField(
                choices=[
                    ("queued", "Queued"),
                    ("processing", "Processing"),
                    ("succeeded", "Succeeded"),
                    ("failed", "Failed"),
                    ("canceled", "Canceled"),
                ],
                default="queued",
                max_length=16,
                protected=True,
            ),
        ),
        migrations.AlterField(
            model_name="refund",
            name="status",
            field=django_fsm.FSMField(
                choices=[("pending", "Pending"), ("succeeded", "Succeeded"), ("failed", "Failed")],
                default="pending",
                max_length=16,
                protected=True,
            ),
        ),
    ]
