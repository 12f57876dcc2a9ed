"""ctlplane: one declarative model for NGINX and HAProxy load balancers — validated, rendered and applied.

The package version below is the fallback when the installed distribution's
metadata cannot be read (for example when run from a source tree).
"""

__version__ = "0.1.0"
