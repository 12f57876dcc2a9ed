"""Fleets on Docker Swarm: one model applied to many load-balancer nodes, canary first, then in waves.

The controller (``ctlplane apply`` on a model with a ``fleet:`` section) publishes a release once, as a
content-addressed bundle (``bundle``: the model file and every file it names in a deterministic tar, split into
Swarm configs; private keys as Swarm secrets) and rolls per-node agent services wave by wave (``waves``: the pure
order, canary first). On each node the agent (``agent``, ``ctlplane agent run``) joins and checks the bundle,
applies it with the normal transaction to a plain proxy container it hot-reloads, soaks it against the gate and
only then reports healthy; a failure restores the last-known-good bundle and exits non-zero, which Swarm's task
state carries back to the controller (``rollout``, over the Swarm seam ``swarm`` / ``docker_swarm`` with
``fake`` beside it; ``state`` is the compare-and-swap record, ``status`` joins Swarm's view with what each
proxy reports). ``sources`` is the one place that reads a release's files.
"""
