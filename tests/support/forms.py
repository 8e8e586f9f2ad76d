"""A test client that sends forms as a browser does."""

import uuid

from django.test import Client

from billing.form_intents import INTENT_FIELD


class FormClient(Client):
    """The test client as a browser uses the site: it loads a form before each POST, so every form POST carries a
    fresh one-time key (spec 11, once per intent) unless the test gives its own. To send the same form twice, pass
    the same `intent_key`; to send one without a key, pass `intent_key=""` or use Django's plain `Client`. Raw bodies
    (the webhook's JSON) are sent as they are. The check itself is never turned off: tests/payments/
    test_once_per_intent.py posts every form without a key, with a malformed key and with another user's key."""

    def post(self, path, data=None, content_type=None, **kwargs):
        if content_type is None and (data is None or isinstance(data, dict)) and INTENT_FIELD not in (data or {}):
            data = {**(data or {}), INTENT_FIELD: str(uuid.uuid4())}
        if content_type is None:
            return super().post(path, data, **kwargs)
        return super().post(path, data, content_type=content_type, **kwargs)
