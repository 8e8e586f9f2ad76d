"""The one family of errors the services raise. Messages are meant for a space administrator or a member."""


class BillingError(Exception):
    """A refused operation: nothing was written, and `message` says why in the user's words."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidAmount(BillingError):
    pass


class CurrencyMismatch(BillingError):
    pass


class InvalidState(BillingError):
    pass


class NotPermitted(BillingError):
    pass
