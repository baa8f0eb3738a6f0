"""The ``nptrain`` command line. Subcommands live in their own modules, imported on use."""
