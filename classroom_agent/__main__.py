"""python -m classroom_agent"""

import sys

from classroom_agent.cli import main

sys.exit(main())
