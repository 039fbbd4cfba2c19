import sys

from dxmi.cli.main import main

sys.exit(main())
