import sys

from impasto.cli.main import main

sys.exit(main())
