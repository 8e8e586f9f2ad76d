"""The language of each person: a member's (`Member.language`) for the portal, the mails and the PDFs, a staff
user's (`StaffPreference.language`) for the admin. Blank means the browser's Accept-Language on a page and
LANGUAGE_CODE in a mail or a PDF.

The chosen language rides in the session (`SESSION_KEY`, put there at login and when it is chosen), so that no page
reads it from the database; the portal's pages also take it from the member they load anyway."""

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.http import HttpRequest
from django.utils import translation

from members.models import Member, StaffPreference

SESSION_KEY = "billing_language"


def language_codes() -> set[str]:
    return {code for code, _name in settings.LANGUAGES}


def member_language(member: Member | None) -> str:
    """The language a member's mails and PDFs are written in."""
    if member is not None and member.language in language_codes():
        return member.language
    return settings.LANGUAGE_CODE


def _checked(language: str) -> str:
    if language and language not in language_codes():
        raise ValueError(f"{language!r} is not one of LANGUAGES.")
    return language


def member_language_set(*, member: Member, language: str) -> Member:
    """Choose the member's language ("" for the browser's)."""
    member.language = _checked(language)
    member.save(update_fields=["language"])
    return member


@transaction.atomic
def staff_language_set(*, user, language: str) -> StaffPreference:
    """Choose a staff user's language for the admin ("" for the browser's)."""
    preference, _created = StaffPreference.objects.select_for_update().get_or_create(user=user)
    preference.language = _checked(language)
    preference.save(update_fields=["language"])
    return preference


def user_language(user) -> str:
    """The language a login chose: its member's, else its staff preference's; "" when none."""
    member = Member.objects.filter(user=user).only("language").first()
    if member is not None:
        return member.language
    preference = StaffPreference.objects.filter(user=user).only("language").first()
    return preference.language if preference is not None else ""


def session_language_remember(request: HttpRequest, language: str) -> None:
    if not hasattr(request, "session"):
        return
    if language:
        request.session[SESSION_KEY] = language
    else:
        request.session.pop(SESSION_KEY, None)


def language_activate(request: HttpRequest, language: str) -> None:
    """Pages from here on in `language`, or in the browser's when it is blank."""
    language = language if language in language_codes() else translation.get_language_from_request(request)
    translation.activate(language)
    request.LANGUAGE_CODE = translation.get_language()


def _remember_at_login(sender, request, user, **kwargs) -> None:
    if request is not None:
        session_language_remember(request, user_language(user))


user_logged_in.connect(_remember_at_login, dispatch_uid="members.languages.remember_at_login")


class UserLanguageMiddleware:
    """After LocaleMiddleware (the browser's language) and the login: the language the user chose, if any."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        session = getattr(request, "session", None)
        language = session.get(SESSION_KEY) if session is not None else None
        if language in language_codes():
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)
