"""PostgreSQL's `unaccent` extension, for the admin lists' search that ignores accents (billing/admin/search.py).
Nothing on SQLite, where the search registers a Python function instead."""

from django.contrib.postgres.operations import UnaccentExtension
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0006_invoice_owed_index"),
    ]

    operations = [UnaccentExtension()]
