"""The broker conformance suite: one set of checks every adapter passes against a counterparty
that speaks its venue's real protocol.

* :mod:`.harness`: the :class:`~.harness.Counterparty` a target's venue side implements, the
  :class:`~.harness.Target` (adapter plus counterparty) and the :class:`~.harness.Desk` that sends
  orders through a node's own execution engine, live router and reconciler.
* :mod:`.points`: the points, each run only where the adapter's capabilities and the
  counterparty's steering allow; ``tests/contract`` runs them for every adapter and prints which
  points each passed and which were excluded, and why.
"""
