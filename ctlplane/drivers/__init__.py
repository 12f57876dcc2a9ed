"""Drivers: everything that touches the world outside the pure model/render core.

``process`` is the single place in the package that starts a subprocess; the
validation stage and, later, the local and Docker drivers all go through it, so
timeouts, missing binaries and output decoding are handled once.
"""
