"""The parity suite: one model, the same observable behaviour on NGINX and HAProxy.

``table.SCENARIOS`` is the table (pure data: what the model says, the request
sequence as a probe name and arguments, the outcome expected on both engines,
the model fields it proves, or the located refusal where an engine cannot);
``groups`` builds the small models the scenarios run against (one deployment
per group and engine); ``probes`` turns a request sequence into an outcome.
``integration/test_parity.py`` runs every scenario on both engines and
``docs/engine-behaviour.md`` is generated from the table
(``docs/gen_engine_behaviour.py``; ``tests/test_parity_table.py`` keeps it in
sync and checks that every model field has a scenario or a documented reason).
"""
