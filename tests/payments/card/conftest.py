"""Rows a refused card operation must not write. The fixtures of the card-payment tests (`committed`, `no_worker`,
`use_gateway`) live in `tests/conftest.py`, shared with the refund tests."""

from payments.models import PaymentAttempt, PaymentMethod, WebhookEvent
from payments.sandbox.models import SandboxCharge
from tests.conftest import broker_queue_delete  # noqa: F401 (used by test_celery_worker)

# Rows a refused card operation must not write either, besides the books of `tests.factories.books_snapshot`.
CARD_MODELS = (PaymentAttempt, PaymentMethod, SandboxCharge, WebhookEvent)
