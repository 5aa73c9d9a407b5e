"""Billing wired to the provisioning service: where Stripe decisions meet the service's queue.

* :mod:`~billing.adapter.runtime` builds it from the service's settings and runs the timer;
* :mod:`~billing.adapter.webhooks` records each delivery once in :mod:`~billing.adapter.store`
  (events, tenant state, customer bindings, the action outbox);
* :mod:`~billing.adapter.sink` turns actions into declaration changes and jobs (through
  :func:`service.declare.redeclare` and the queue's interface) and keeps the suspension timers;
* :mod:`~billing.adapter.checkout` is the checkout-session endpoint's flow;
* :mod:`~billing.adapter.usage_report` reports recorded VM-hours to Stripe.
"""
