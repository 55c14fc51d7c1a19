import sys

from gstsn.cli import main

sys.exit(main())
