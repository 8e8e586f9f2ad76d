"""Production settings (spec 11, "Safe in production"), each run in a fresh process with DEBUG off, as a deployment
would: the settings are read once, at start."""

import json
import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from payments.gateways import gateway_get

ROOT = Path(__file__).resolve().parents[2]
# Reaching them is not needed to check the settings, and the README's hosts do not exist here.
UNREACHABLE = ("DATABASE_URL", "REDIS_URL")
SETTINGS = (
    "DEBUG",
    "PAYMENT_GATEWAY",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "BILLING_TRUSTED_PROXIES",
    "BILLING_EARLIEST_RECEIVED_DATE",
)


def readme_production_environment() -> dict[str, str]:
    """The variables the README's Deployment section exports, with a real secret key for its `...`."""
    readme = (ROOT / "README.md").read_text()
    deployment = readme[readme.index("## Deployment") :]
    block = deployment[deployment.index("```sh") : deployment.index("```", deployment.index("```sh") + 5)]
    environment = {}
    for line in block.splitlines():
        if line.startswith("export "):
            for word in shlex.split(line.removeprefix("export "), comments=True):
                name, _, value = word.partition("=")
                environment[name] = value
    assert environment["DEBUG"] == "off", environment
    environment["SECRET_KEY"] = secrets.token_urlsafe(50)
    for name in UNREACHABLE:
        environment.pop(name, None)
    return environment


def run(args: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess:
    """`python <args>` in the project's folder, with only the given settings on top of a clean environment."""
    base = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG", "PYTHONPATH")}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), base.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "coworking_billing.settings", **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings_in(environment: dict[str, str]) -> dict:
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name, None) for name in {SETTINGS!r}}}, default=str))"
    )
    result = run(["-c", code], environment)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_check_deploy_is_clean_with_the_readme_s_production_settings():
    result = run(["manage.py", "check", "--deploy"], readme_production_environment())

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "System check identified no issues (0 silenced).\n"


def test_https_is_on_by_default_with_debug_off():
    assert settings_in(readme_production_environment()) == {
        "DEBUG": False,
        "PAYMENT_GATEWAY": "stripe",
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "BILLING_TRUSTED_PROXIES": 1,
        "BILLING_EARLIEST_RECEIVED_DATE": "2000-01-01",
    }


def test_each_https_setting_can_be_turned_off_for_a_proxy_that_needs_it():
    environment = {
        **readme_production_environment(),
        "SECURE_PROXY_SSL_HEADER": "",
        "SECURE_SSL_REDIRECT": "off",
        "SESSION_COOKIE_SECURE": "off",
        "CSRF_COOKIE_SECURE": "off",
        "SECURE_HSTS_SECONDS": "0",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "off",
        "SECURE_HSTS_PRELOAD": "off",
        "BILLING_TRUSTED_PROXIES": "2",
        "BILLING_EARLIEST_RECEIVED_DATE": "2015-06-01",
    }

    found = settings_in(environment)

    assert {name: found[name] for name in SETTINGS[2:]} == {
        "SECURE_PROXY_SSL_HEADER": None,
        "SECURE_SSL_REDIRECT": False,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SECURE_HSTS_PRELOAD": False,
        "BILLING_TRUSTED_PROXIES": 2,
        "BILLING_EARLIEST_RECEIVED_DATE": "2015-06-01",
    }


def test_development_defaults_stay_plain_http():
    found = settings_in({"DEBUG": "on"})

    assert found == {
        "DEBUG": True,
        "PAYMENT_GATEWAY": "sandbox",
        "SECURE_PROXY_SSL_HEADER": None,
        "SECURE_SSL_REDIRECT": False,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SECURE_HSTS_PRELOAD": False,
        "BILLING_TRUSTED_PROXIES": 0,
        "BILLING_EARLIEST_RECEIVED_DATE": "2000-01-01",
    }


@pytest.mark.parametrize("command", [["check"], ["run_payment_retries"]])
def test_debug_off_without_a_stripe_key_is_a_system_check_error(command):
    environment = readme_production_environment()
    for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET"):
        environment.pop(name)

    result = run(["manage.py", *command], environment)

    assert result.returncode != 0
    assert "(billing.E001) DEBUG is off and no Stripe key is set" in result.stderr
    assert "PAYMENT_GATEWAY=sandbox to run the sandbox on purpose" in result.stderr


def test_the_sandbox_chosen_by_name_runs_with_debug_off():
    environment = readme_production_environment()
    for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET"):
        environment.pop(name)
    environment["PAYMENT_GATEWAY"] = "sandbox"

    result = run(["manage.py", "check"], environment)

    assert (result.returncode, result.stdout) == (0, "System check identified no issues (0 silenced).\n")


@pytest.mark.parametrize(
    ("environment", "error"),
    [
        (
            {"PAYMENT_GATEWAY": "paypal"},
            "(billing.E002) PAYMENT_GATEWAY is 'paypal'; it must be one of stripe, sandbox.",
        ),
        ({"PAYMENT_GATEWAY": "stripe"}, "(billing.E003) PAYMENT_GATEWAY is stripe but STRIPE_SECRET_KEY is not set."),
    ],
)
def test_a_gateway_that_cannot_work_is_a_system_check_error(environment, error):
    result = run(["manage.py", "check"], {"DEBUG": "on", **environment})

    assert result.returncode != 0
    assert error in result.stderr


def test_a_malformed_earliest_date_stops_the_start():
    result = run(["manage.py", "check"], {"DEBUG": "on", "BILLING_EARLIEST_RECEIVED_DATE": "1/1/2000"})

    assert result.returncode != 0
    assert "BILLING_EARLIEST_RECEIVED_DATE must be a date written YYYY-MM-DD" in result.stderr


def test_processes_that_run_no_system_check_refuse_the_sandbox_too(settings):
    """gunicorn and Celery run no system check: with the sandbox not allowed, charging fails loudly."""
    settings.PAYMENT_GATEWAY = "sandbox"
    settings.PAYMENT_SANDBOX_ALLOWED = False

    with pytest.raises(ImproperlyConfigured, match="DEBUG is off and no Stripe key is set"):
        gateway_get()


def test_the_sandbox_gateway_is_used_when_allowed(settings):
    settings.PAYMENT_GATEWAY = "sandbox"
    settings.PAYMENT_SANDBOX_ALLOWED = True

    assert gateway_get().name == "sandbox"


def test_the_readme_documents_every_new_setting():
    readme = (ROOT / "README.md").read_text()
    for name in [*SETTINGS[2:], "PAYMENT_GATEWAY"]:
        assert re.search(rf"`{name}`", readme), name
