"""``python -m gstsn.ablate run|dry-run|merge|summary ...`` (the same as ``gstsn ablations ...``)."""

import sys

from gstsn.ablate.commands import main

sys.exit(main())
