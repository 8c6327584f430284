import sys

from rewardforge.cli import main

sys.exit(main())
