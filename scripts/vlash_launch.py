"""The launcher from the source tree: ``python scripts/vlash_launch.py`` = ``vlash_launch``.

Installed, the same is ``ros2 run vlash_bringup vlash_launch``; see :mod:`vlash_bringup.launcher`.
"""

import sys

from vlash_bringup.launcher import main

if __name__ == "__main__":
    sys.exit(main())
