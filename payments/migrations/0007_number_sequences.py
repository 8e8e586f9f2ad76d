"""Payment (PAY) and allocation (ALC) numbers from PostgreSQL sequences, which take no lock that payments of
different members would share (see billing/numbering.py). Each sequence starts after the highest number already
handed out, and the per-year counter rows of those two series, no longer used on PostgreSQL, are removed.
SQLite keeps using the counter rows (one writer at a time: nothing to deadlock), so nothing changes there.

The sequence names are written out here, as they were when this migration was written.
"""

import re

from django.db import migrations

SEQUENCES = {"PAY": ("billing_number_pay_seq", "Payment"), "ALC": ("billing_number_alc_seq", "Allocation")}


def _highest_values(apps, series: str, model_name: str) -> dict[int, int]:
    """The highest number value handed out per year, from the rows and the counters."""
    pattern = re.compile(rf"^{series}-(\d{{4}})-(\d+)$")
    highest: dict[int, int] = {}
    for number in apps.get_model("payments", model_name).objects.values_list("number", flat=True).iterator():
        match = pattern.match(number)
        if match:
            year, value = int(match.group(1)), int(match.group(2))
            highest[year] = max(highest.get(year, 0), value)
    for year, last_value in apps.get_model("billing", "NumberSequence").objects.filter(series=series).values_list(
        "year", "last_value"
    ):
        highest[year] = max(highest.get(year, 0), last_value)
    return highest


def sequences_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    counters = apps.get_model("billing", "NumberSequence")
    with schema_editor.connection.cursor() as cursor:
        for series, (name, model_name) in SEQUENCES.items():
            start = max(_highest_values(apps, series, model_name).values(), default=0)
            cursor.execute(f"CREATE SEQUENCE IF NOT EXISTS {name} AS bigint MINVALUE 1")
            if start:
                cursor.execute("SELECT setval(%s, %s, true)", [name, start])
            counters.objects.filter(series=series).delete()


def sequences_drop(apps, schema_editor):
    """Back to the counters: each year's counter continues after the highest number of that year."""
    if schema_editor.connection.vendor != "postgresql":
        return
    counters = apps.get_model("billing", "NumberSequence")
    with schema_editor.connection.cursor() as cursor:
        for series, (name, model_name) in SEQUENCES.items():
            for year, value in _highest_values(apps, series, model_name).items():
                counters.objects.update_or_create(series=series, year=year, defaults={"last_value": value})
            cursor.execute(f"DROP SEQUENCE IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_credit_note_parts_add_up_on_sqlite"),
        ("payments", "0006_outbox_refund_review"),
    ]

    operations = [migrations.RunPython(sequences_create, sequences_drop)]
