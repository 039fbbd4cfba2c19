"""``python -m dxmi.mate mate-train --config tmaze --out runs/tmaze``."""

from dxmi.mate.cli import main

raise SystemExit(main())
