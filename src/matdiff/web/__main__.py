"""`python -m matdiff.web`: serve the page (what `matdiff serve` runs; options in `server.main`)."""
import sys

from .server import main

sys.exit(main())
