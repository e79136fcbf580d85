"""`python -m gui`: same as the `litesmith` command."""

import sys

from gui.entry import main

if __name__ == "__main__":
    sys.exit(main())
