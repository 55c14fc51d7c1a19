"""``python -m gstsn.ablate run|dry-run|merge|summary ...``: the same as ``gstsn ablations ...``."""

import sys

from gstsn.cli import main

sys.exit(main(["ablations", *sys.argv[1:]]))
