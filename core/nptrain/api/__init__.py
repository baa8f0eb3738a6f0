"""The Python API that the CLI commands call (``nptrain.train``, ``evaluate``, ``predict``, ``export``,
``compress``; see docs/python.md). Each function takes Python values, returns a typed result and
raises :class:`nptrain.errors.UserError` (or a subclass) for bad input; the ``cmd_*`` modules only
parse arguments and print. Importing this package is light: every module imports torch lazily or is
imported on first use through ``nptrain.__getattr__``."""
