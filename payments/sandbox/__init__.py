"""The sandbox gateway: a payment gateway that runs inside this project, with its own tables (customers, cards,
charges, refunds) as a real gateway would keep them. It is what `make run` and the tests charge when no Stripe key is
set, and it knows the test cards of the spec (`gateway.TEST_CARDS`)."""
