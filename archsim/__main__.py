"""``python -m archsim`` runs the command-line interface."""

from archsim.cli import main

raise SystemExit(main())
