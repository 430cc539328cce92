"""CLI sub-commands. Each module here exposes `command`, a click.Command that
`integc.cli` adds to the `integc` group (in module-name order)."""
