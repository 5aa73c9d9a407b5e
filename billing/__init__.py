"""Dokploy Cloud billing, the Stripe domain: Stripe facts in, provisioning actions out.

This package knows Stripe and nothing of the service: the price mapping (:mod:`billing.config`),
normalised events (:mod:`billing.model`), webhook verification (:mod:`billing.webhooks`), the pure
decisions (:mod:`billing.decide`, lifecycle in :mod:`billing.states`), what a checkout buys and the
sessions that sell it (:mod:`billing.checkout`), VM-hour usage reports (:mod:`billing.usage`) and the
Stripe client (:mod:`billing.stripe_api`). Its wiring to the provisioning service's queue is
:mod:`billing.adapter`; nothing here imports it.
"""
