"""Settings, read from the environment.

Without DATABASE_URL the project runs on a SQLite file under var/; without REDIS_URL Celery runs every task
in-process (eagerly), so `make run` needs nothing but Python. With both set, the same code runs on PostgreSQL
and real Celery workers.
"""

import datetime
import os
from pathlib import Path

import dj_database_url
from babel import Locale, UnknownLocaleError

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")

INSTALLED_APPS = [
    "coworking_billing.apps.BillingAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "djmoney",
    "axes",
    "members",
    "billing",
    "payments",
    "payments.sandbox",
    "bank",
    "members.portal",
    "django_fsm",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the collected static files in production (gunicorn has no static file handler).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language of a page: the browser's Accept-Language (or the language cookie), then the one a member or a
    # staff user chose (members.languages.UserLanguageMiddleware, after the login is known).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "members.languages.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login attempt into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "coworking_billing.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "members.portal.context.space",
            ],
        },
    },
]

WSGI_APPLICATION = "coworking_billing.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # `manage.py` run straight from a fresh checkout (without make) finds the folder of its database.
    VAR_DIR.mkdir(exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
# The money path's row statements (billing/rows.py) are prepared on PostgreSQL: parsed and planned once a
# connection (psycopg prepares only on a connection with a `prepare_threshold`; Django's own queries bind on the
# client and are never prepared). Turn it off ("0") behind a pooler in transaction mode that keeps no prepared
# statements (PgBouncer before 1.21, or without max_prepared_statements).
BILLING_DATABASE_PREPARE = os.environ.get("BILLING_DATABASE_PREPARE", "1") != "0"
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and BILLING_DATABASE_PREPARE:
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes first (it refuses locked-out attempts, so every authenticate() call must pass the request), then
# members log in to the portal by email and staff to the admin by username.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "members.portal.auth.MemberEmailBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = datetime.timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "members.portal.auth.axes_username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "members.portal.auth.lockout_response"
AXES_VERBOSE = False
# Failures are counted per client address, not per address of the reverse proxy in front (see "Deployment" in the
# README): each of the BILLING_TRUSTED_PROXIES proxies appends the address it received the request from to
# X-Forwarded-For. 1 with DEBUG off (the documented nginx), 0 with DEBUG on (REMOTE_ADDR, no proxy).
BILLING_TRUSTED_PROXIES = int(os.environ.get("BILLING_TRUSTED_PROXIES", "0" if DEBUG else "1"))
AXES_CLIENT_IP_CALLABLE = "members.portal.auth.axes_client_ip"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# The languages of the portal, the mails, the PDFs and the admin. Each member and staff user may choose one; without
# a choice, a page follows the browser's Accept-Language and a mail or a PDF this default.
LANGUAGES = [("en", "English"), ("fr", "Français"), ("de", "Deutsch")]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# The project's catalogues (locale/<language>/LC_MESSAGES/django.po), compiled by `manage.py compile_catalogs`.
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
if not DEBUG:
    # `collectstatic` writes compressed copies with hashed names; WhiteNoise serves them with far-future caching.
    # Only with DEBUG off: the tests and `make run` serve the files from their app directories, uncollected.
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }

# Behind a TLS-terminating proxy (see "Deployment" in the README). With DEBUG off, HTTPS is required by default:
# the proxy says a request came over HTTPS with X-Forwarded-Proto, plain HTTP is redirected, cookies are sent over
# HTTPS only, and HSTS tells browsers to use nothing else. Each can be turned off (or changed) in the environment,
# e.g. for a proxy that redirects to HTTPS itself. With DEBUG on (`make run`, the tests) all are off.
# SECURE_PROXY_SSL_HEADER: "header,value" the proxy sets on HTTPS requests (and strips from what clients send);
# set it empty when requests reach Django over HTTPS directly.
_proxy_ssl_header = env_list("SECURE_PROXY_SSL_HEADER", "" if DEBUG else "HTTP_X_FORWARDED_PROTO,https")
if _proxy_ssl_header:
    if len(_proxy_ssl_header) != 2:
        raise RuntimeError('SECURE_PROXY_SSL_HEADER must be "header,value", e.g. "HTTP_X_FORWARDED_PROTO,https".')
    SECURE_PROXY_SSL_HEADER = (_proxy_ssl_header[0], _proxy_ssl_header[1])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "billing@coworking.example")

# Celery: a real broker when REDIS_URL is set, otherwise every task runs in-process.
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A worker keeps its database connection from task to task, as a web process does from request to request
# (CONN_MAX_AGE, broken connections dropped: coworking_billing/celery.py). Without this, Celery's Django fixup closes
# it before and after every task, and each task pays a new PostgreSQL backend; with it, the fixup closes it only
# every this many tasks.
CELERY_DB_REUSE_MAX = 1000
CELERY_TIMEZONE = TIME_ZONE
# Publishing a task gives up at once when the broker is down, instead of stalling the request: the task waits in the
# outbox (payments.outbox) and the relay hands it over again.
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}

# Billing rules a space can change.
BILLING_DEFAULT_CURRENCY = os.environ.get("BILLING_DEFAULT_CURRENCY", "EUR")
BILLING_CURRENCIES = env_list("BILLING_CURRENCIES", "EUR,USD,GBP,CHF,JPY")
BILLING_APPLY_CREDIT_AT_ISSUE = env_bool("BILLING_APPLY_CREDIT_AT_ISSUE", True)
BILLING_DEFAULT_DUE_DAYS = int(os.environ.get("BILLING_DEFAULT_DUE_DAYS", "14"))
BILLING_SPACE_NAME = os.environ.get("BILLING_SPACE_NAME", "Coworking space")
# The space's bank account, printed on invoices with each one's RF reference and an EPC QR code (billing/
# bank_transfer.py). The defaults are a demo account (the IBAN is the well-known example of the German banks); the
# system check billing.E010 stops the start-up on an IBAN or BIC that is not valid.
BILLING_BANK_IBAN = os.environ.get("BILLING_BANK_IBAN", "DE89 3704 0044 0532 0130 00")
BILLING_BANK_BIC = os.environ.get("BILLING_BANK_BIC", "COBADEFFXXX")
BILLING_BANK_ACCOUNT_HOLDER = os.environ.get("BILLING_BANK_ACCOUNT_HOLDER", BILLING_SPACE_NAME)
# A form submitted twice shows the first submission's outcome; how long (seconds) the second waits for the first to
# finish writing it before showing "This form was already submitted." instead.
BILLING_INTENT_OUTCOME_WAIT = float(os.environ.get("BILLING_INTENT_OUTCOME_WAIT", "5"))
# Dates money was received: not in the future (in TIME_ZONE), not before this date (YYYY-MM-DD).
try:
    BILLING_EARLIEST_RECEIVED_DATE = datetime.date.fromisoformat(
        os.environ.get("BILLING_EARLIEST_RECEIVED_DATE", "2000-01-01")
    )
except ValueError:
    raise RuntimeError("BILLING_EARLIEST_RECEIVED_DATE must be a date written YYYY-MM-DD, e.g. 2000-01-01.") from None
# The space's locale: how amounts are typed (`12,50` is 12.50 in fr and de) and shown (`12,50 €`). A Babel (CLDR)
# locale identifier: en, fr, de, or with a territory (fr_CH, de_AT).
BILLING_LOCALE = (os.environ.get("BILLING_LOCALE") or "en").strip()
try:
    Locale.parse(BILLING_LOCALE.replace("-", "_"))
except (UnknownLocaleError, ValueError, TypeError):
    raise RuntimeError(
        f"BILLING_LOCALE “{BILLING_LOCALE}” is not a locale: use a CLDR locale identifier such as en, fr, de or fr_CH."
    ) from None

# django-money's currency choices: fixed, so that migrations do not depend on the environment.
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "CAD", "AUD", "JPY", "KRW", "BHD")
DEFAULT_CURRENCY = "EUR"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # django-axes logs every login at INFO; its lockouts are warnings.
    "loggers": {"axes": {"level": os.environ.get("AXES_LOG_LEVEL", "WARNING")}},
}

# Payment gateway: Stripe when a secret key is set, else the embedded sandbox (with DEBUG on, or chosen by name).
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")
STRIPE_TIMEOUT_SECONDS = float(os.environ.get("STRIPE_TIMEOUT_SECONDS", "20"))
# Stripe.js, loaded by the portal's card forms only when the gateway is Stripe (the only external script).
STRIPE_JS_URL = os.environ.get("STRIPE_JS_URL", "https://js.stripe.com/v3/")
# With DEBUG off the sandbox runs only when chosen here by name (`billing.E001` otherwise, see payments/checks.py):
# a production site without a Stripe key must not take test cards for real invoices.
PAYMENT_GATEWAY_CHOSEN = os.environ.get("PAYMENT_GATEWAY", "").strip().lower()
PAYMENT_GATEWAY = PAYMENT_GATEWAY_CHOSEN or ("stripe" if STRIPE_SECRET_KEY else "sandbox")
PAYMENT_SANDBOX_ALLOWED = DEBUG or PAYMENT_GATEWAY_CHOSEN == "sandbox"
SANDBOX_LATENCY_SECONDS = float(os.environ.get("SANDBOX_LATENCY_SECONDS", "0"))

# Card payments: automatic retries counted in days from the last failure; reconciliation of unknown outcomes.
BILLING_RETRY_SCHEDULE_DAYS = [int(d) for d in env_list("BILLING_RETRY_SCHEDULE_DAYS", "3,5,7")]
BILLING_RECONCILE_AFTER_MINUTES = int(os.environ.get("BILLING_RECONCILE_AFTER_MINUTES", "10"))
BILLING_NEEDS_REVIEW_AFTER_HOURS = int(os.environ.get("BILLING_NEEDS_REVIEW_AFTER_HOURS", "24"))
BILLING_ADMIN_EMAILS = env_list("BILLING_ADMIN_EMAILS", "")
# The portal's address as members reach it, for the links in mail (the failed-payment mail, receipts, invoices).
BILLING_PORTAL_URL = os.environ.get("BILLING_PORTAL_URL", "http://127.0.0.1:8000/portal/")

# Work after a commit (tasks, mail) waits in the outbox until it is done: the relay hands it over again after this
# many seconds, doubling each time (at most an hour). Stored webhook events are swept after the same delay, and fail
# for good (listed in the admin, to reprocess) after BILLING_WEBHOOK_MAX_ATTEMPTS tries.
BILLING_OUTBOX_RETRY_SECONDS = int(os.environ.get("BILLING_OUTBOX_RETRY_SECONDS", "60"))
BILLING_WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("BILLING_WEBHOOK_MAX_ATTEMPTS", "5"))
# The webhook view only stores an event; the relay processes the events stored since its last run, this often.
BILLING_WEBHOOK_RELAY_SECONDS = float(os.environ.get("BILLING_WEBHOOK_RELAY_SECONDS", "3"))
BILLING_OUTBOX_RELAY_SECONDS = float(os.environ.get("BILLING_OUTBOX_RELAY_SECONDS", "3"))

CELERY_BEAT_SCHEDULE = {
    "run-payment-retries": {"task": "payments.tasks.payment_retries_run_task", "schedule": 15 * 60},
    "reconcile-payments": {"task": "payments.tasks.attempts_reconcile_task", "schedule": 5 * 60},
    "reconcile-refunds": {"task": "payments.tasks.refunds_reconcile_task", "schedule": 5 * 60},
    # A relay that waits in the queue longer than its period is dropped: the next one does its work.
    "relay-webhook-events": {
        "task": "payments.tasks.webhook_events_relay_task",
        "schedule": BILLING_WEBHOOK_RELAY_SECONDS,
        "options": {"expires": BILLING_WEBHOOK_RELAY_SECONDS},
    },
    "sweep-webhook-events": {"task": "payments.tasks.webhook_events_sweep_task", "schedule": 60},
    # The outbox rows nobody woke a relay for (mails), handed over within BILLING_OUTBOX_RELAY_SECONDS.
    "relay-outbox-fresh": {
        "task": "payments.tasks.outbox_relay_fresh_task",
        "schedule": BILLING_OUTBOX_RELAY_SECONDS,
        "options": {"expires": BILLING_OUTBOX_RELAY_SECONDS},
    },
    "relay-outbox": {"task": "payments.tasks.outbox_relay_task", "schedule": 60},
}

# The member portal: partial payments only when the space allows them, from this minimum (in the invoice's currency).
BILLING_PORTAL_PARTIAL_PAYMENTS = env_bool("BILLING_PORTAL_PARTIAL_PAYMENTS", False)
BILLING_PORTAL_PARTIAL_MINIMUM = os.environ.get("BILLING_PORTAL_PARTIAL_MINIMUM", "10.00")

LOGIN_URL = "portal:login"
