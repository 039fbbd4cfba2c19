"""``python -m dxmi.mate train --config tmaze --out runs/tmaze``."""

from dxmi.mate.cli import main

raise SystemExit(main())
