"""Compile the project's translation catalogues (locale/<language>/LC_MESSAGES/django.po) to the .mo files Django
reads, with Babel: like `compilemessages`, without needing GNU gettext on the machine. `make install`, `make run`
and `make test` run it. A catalogue whose translations do not keep their msgid's placeholders is refused, and
fuzzy entries are left out (Django would show the English)."""

import os
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def catalogue_paths() -> list[Path]:
    return sorted(path for folder in settings.LOCALE_PATHS for path in Path(folder).glob("*/LC_MESSAGES/*.po"))


class Command(BaseCommand):
    help = "Compile locale/*/LC_MESSAGES/*.po to .mo with Babel (no GNU gettext needed)."

    def handle(self, *args, **options):
        for po_path in catalogue_paths():
            with po_path.open("rb") as po_file:
                catalog = read_po(po_file, locale=po_path.parent.parent.name)
            problems = [
                f"{po_path}:{message.lineno}: {error}" for message, errors in catalog.check() for error in errors
            ]
            if problems:
                raise CommandError("Translations that do not match their msgid:\n" + "\n".join(problems))
            # Written beside and moved into place: a test process reading the catalogue never sees half of it.
            mo_path = po_path.with_suffix(".mo")
            partial = mo_path.with_name(f".{mo_path.name}.{os.getpid()}")
            with partial.open("wb") as mo_file:
                write_mo(mo_file, catalog, use_fuzzy=False)
            os.replace(partial, mo_path)
            if options["verbosity"] > 1:
                self.stdout.write(f"Compiled {po_path}")
