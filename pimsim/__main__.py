import sys

from pimsim.commands import main

sys.exit(main())
