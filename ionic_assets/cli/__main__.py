import sys

from ionic_assets.cli import main

sys.exit(main())
