"""Fleets on Docker Swarm: the release bundle, the waves, the Swarm seam, the rollout controller and the agent."""
