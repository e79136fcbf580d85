"""The `litesmith` subcommands, one module per command (`core.cli.main` builds the parser)."""
