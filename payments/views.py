from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payments.gateways.base import InvalidWebhook
from payments.gateways.stripe import webhook_event_verify
from payments.services.webhook import webhook_event_store


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Verify, store once in one short transaction, answer at once: nothing is handed to the broker here, the
    webhook relay (a worker, every few seconds) processes the stored event. Anything that is not a signed, recent
    Stripe event object answers 400 and stores nothing."""
    try:
        event = webhook_event_verify(payload=request.body, signature=request.headers.get("Stripe-Signature", ""))
    except InvalidWebhook as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
    _, created = webhook_event_store(gateway="stripe", event=event)
    return HttpResponse("stored" if created else "duplicate", status=200)
