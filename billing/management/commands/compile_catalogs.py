"""Compile the project's translation catalogues (locale/<language>/LC_MESSAGES/django.po) to the .mo files Django
reads, with Babel: like `compilemessages`, without needing GNU gettext on the machine. `make install`, `make run`
and `make test` run it. A catalogue whose translations do not keep their msgid's placeholders is refused, and
fuzzy entries are left out (Django would show the English)."""

import os
import re
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

PLACEHOLDER = re.compile(r"%\(([a-z_]+)\)[sd]")


def placeholder_problems(catalog) -> list[str]:
    """Babel's checks, and one it leaves out: a translation names exactly its msgid's placeholders (a plural form
    may leave out the count, as "one minute" does)."""
    problems = [str(error) for _message, errors in catalog.check() for error in errors]
    for message in catalog:
        if not message.id or "python-format" not in message.flags:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        expected = set().union(*(PLACEHOLDER.findall(text) for text in ids))
        for text in strings:
            found = set(PLACEHOLDER.findall(text))
            if text and (found - expected or (len(ids) == 1 and found != expected)):
                problems.append(f"{message.id!r}: {sorted(found)} instead of {sorted(expected)}")
    return problems


def catalogue_paths() -> list[Path]:
    return sorted(path for folder in settings.LOCALE_PATHS for path in Path(folder).glob("*/LC_MESSAGES/*.po"))


class Command(BaseCommand):
    help = "Compile locale/*/LC_MESSAGES/*.po to .mo with Babel (no GNU gettext needed)."

    def handle(self, *args, **options):
        for po_path in catalogue_paths():
            with po_path.open("rb") as po_file:
                catalog = read_po(po_file, locale=po_path.parent.parent.name)
            problems = [f"{po_path}: {problem}" for problem in placeholder_problems(catalog)]
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
