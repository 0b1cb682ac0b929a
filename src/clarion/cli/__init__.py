"""The ``clarion`` command: one module per subcommand, each with ``register`` and ``run``."""
