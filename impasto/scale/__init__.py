"""Scale out on Ray: batch jobs on Ray Data (``impasto batch``), online serving on Ray Serve (``impasto serve``).

Ray is the optional ``[scale]`` extra. Nothing here imports it at module level except
:mod:`impasto.scale.batch`, :mod:`impasto.scale.cluster` and :mod:`impasto.scale.serve`,
which the CLI imports only when one of these commands runs; :mod:`impasto.scale.jobs`
(which files a batch reads and writes) and :mod:`impasto.scale.requests` (what an HTTP
request asks for) are plain Python, tested without a cluster. The runtime
(:mod:`impasto.runtime`) never imports this package or Ray (an import-linter contract).
"""
