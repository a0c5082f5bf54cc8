"""The subcommands, one module each, with the register(subparsers) that adds it to the CLI."""
