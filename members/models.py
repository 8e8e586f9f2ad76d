from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy


class Member(models.Model):
    """Who is billed: a person or a company."""

    class Kind(models.TextChoices):
        PERSON = "person", gettext_lazy("Person")
        COMPANY = "company", gettext_lazy("Company")

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PERSON)
    email = models.EmailField(unique=True)
    billing_address = models.TextField(blank=True)
    default_currency = models.CharField(max_length=3, default="EUR")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="member",
        help_text=gettext_lazy("The member's portal login, if they have one."),
    )
    gateway_customer_id = models.CharField(max_length=255, blank=True, default="")
    # The language of the member's portal pages, mails and PDFs; blank: the browser's (Accept-Language) in the
    # portal, LANGUAGE_CODE in mails and PDFs.
    language = models.CharField(
        gettext_lazy("language"),
        max_length=8,
        blank=True,
        default="",
        choices=settings.LANGUAGES,
        help_text=gettext_lazy("The language of the portal, the mails and the PDFs. Blank: the browser's."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = gettext_lazy("member")
        verbose_name_plural = gettext_lazy("members")
        ordering = ["name", "id"]
        # The member list's order.
        indexes = [models.Index(fields=["name", "id"], name="member_name_id")]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway_customer_id"],
                condition=~Q(gateway_customer_id=""),
                name="member_gateway_customer_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class StaffPreference(models.Model):
    """A staff user's own settings: the language of the admin's pages (blank: the browser's)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_preference")
    language = models.CharField(
        gettext_lazy("language"), max_length=8, blank=True, default="", choices=settings.LANGUAGES
    )

    def __str__(self) -> str:
        return str(self.user)
