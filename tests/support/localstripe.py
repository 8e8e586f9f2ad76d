"""Run localstripe (a fake, stateful Stripe server from PyPI) inside the test process, bound to 127.0.0.1.

localstripe's own launcher listens on every interface and has no host flag, so we serve its aiohttp app on a
socket of our own. Two differences from Stripe are mended here: Stripe accepts `off_session` when confirming a
PaymentIntent, localstripe refuses any argument there, so the confirm route drops it; and Stripe answers a POST sent
again with the same `Idempotency-Key` with the first answer (charging nothing more), which localstripe ignores, so a
middleware keeps the first answer per key (until the data is flushed), as Stripe does for 24 hours.
"""

import asyncio
import socket
import threading
from dataclasses import dataclass

import requests
from aiohttp import web

_IDEMPOTENT_ANSWERS: dict[str, tuple[int, bytes]] = {}


@web.middleware
async def _idempotency_middleware(request, handler):
    """Stripe's idempotency: a POST with a key seen before gets the first answer again, whatever it was."""
    if request.method == "DELETE" and request.path == "/_config/data":
        _IDEMPOTENT_ANSWERS.clear()
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    if key in _IDEMPOTENT_ANSWERS:
        status, body = _IDEMPOTENT_ANSWERS[key]
        return web.Response(status=status, body=body, content_type="application/json")
    response = await handler(request)
    if isinstance(response, web.Response) and response.body is not None:
        _IDEMPOTENT_ANSWERS[key] = (response.status, bytes(response.body))
    return response


def _patch_confirm_off_session() -> None:
    from localstripe import resources

    for index, (method, url, func) in enumerate(resources.extra_apis):
        if url == "/v1/payment_intents/{id}/confirm" and not getattr(func, "accepts_off_session", False):

            def confirm(id, off_session=None, _original=func, **kwargs):
                return _original(id, **kwargs)

            confirm.accepts_off_session = True
            resources.extra_apis[index] = (method, url, confirm)
    resources.store.dump_to_disk = lambda: None  # keep the state in memory only


@dataclass
class LocalStripe:
    url: str
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop

    def flush(self) -> None:
        requests.delete(f"{self.url}/_config/data", timeout=5).raise_for_status()

    def list(self, resource: str) -> list[dict]:
        response = requests.get(
            f"{self.url}/v1/{resource}", params={"limit": 100}, auth=("sk_test_local", ""), timeout=5
        )
        response.raise_for_status()
        return response.json()["data"]

    def card(self, number: str = "4242424242424242") -> str:
        """A PaymentMethod created at localstripe, as Stripe.js would create it in the member's browser: its id."""
        response = requests.post(
            f"{self.url}/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": number,
                "card[exp_month]": 12,
                "card[exp_year]": 2030,
                "card[cvc]": "123",
            },
            auth=("sk_test_local", ""),
            timeout=5,
        )
        response.raise_for_status()
        return response.json()["id"]

    def register_webhook(self, *, url: str, secret: str) -> None:
        requests.post(
            f"{self.url}/_config/webhooks/tests", data={"url": url, "secret": secret}, timeout=5
        ).raise_for_status()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


def closed_port_url() -> str:
    """The URL of a port on 127.0.0.1 nothing listens on: a gateway that cannot be reached."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def localstripe_start() -> LocalStripe:
    _patch_confirm_off_session()
    from localstripe import server  # imported after the patch: it registers the routes at import

    if _idempotency_middleware not in server.app.middlewares:
        server.app.middlewares.insert(0, _idempotency_middleware)  # outermost: it keeps error answers too

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(server.app, access_log=None)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.SockSite(runner, sock).start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())

    thread = threading.Thread(target=serve, name="localstripe", daemon=True)
    thread.start()
    if not started.wait(timeout=10):
        raise RuntimeError("localstripe did not start")
    return LocalStripe(url=f"http://127.0.0.1:{port}", thread=thread, loop=loop)
