"""``python -m upsell`` runs the command line."""

from upsell.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
