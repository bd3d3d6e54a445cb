"""``python -m upsell.cli`` runs the command line."""

from upsell.cli import main

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
