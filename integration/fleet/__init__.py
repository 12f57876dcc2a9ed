"""The fleet suite: ctlplane fleets on a Swarm of docker-in-docker nodes (``lab.py``, fixtures in conftest)."""
