"""The invoices' ISO 11649 creditor reference (billing/payment_references.py), filled for the invoices already issued
from their numbers: RF, the check digits, and the number's letters and digits."""

import re

from django.db import migrations, models
from stdnum import iso11649
from stdnum.iso7064 import mod_97_10


def _reference(number):
    body = re.sub(r"[^A-Za-z0-9]", "", number).upper()
    return iso11649.validate("RF" + mod_97_10.calc_check_digits(body + "RF") + body)


def payment_references_fill(apps, schema_editor):
    Invoice = apps.get_model("billing", "Invoice")
    invoices = list(Invoice.objects.filter(number__isnull=False, payment_reference__isnull=True).only("number"))
    for invoice in invoices:
        invoice.payment_reference = _reference(invoice.number)
    Invoice.objects.bulk_update(invoices, ["payment_reference"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0007_unaccent_extension"),
    ]

    operations = [
        migrations.AddField(
            model_name="invoice",
            name="payment_reference",
            field=models.CharField(blank=True, editable=False, max_length=25, null=True, unique=True),
        ),
        migrations.RunPython(payment_references_fill, migrations.RunPython.noop, elidable=True),
    ]
