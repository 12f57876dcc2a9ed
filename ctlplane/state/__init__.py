"""On-disk state of the proxies ctlplane runs: where each proxy's state directory is
(``paths``), what it holds (``layout``), how files are written atomically (``fsio``),
the content-addressed releases and the ``config`` switch between them (``releases``),
and the cross-process locks of applies, pairs and ``down`` (``locks``). Nothing here
starts a process or talks to a proxy; that is the drivers' job.
"""
