"""`python -m photorecon.cli` (and `torchrun -m photorecon.cli`): the `photorecon` command."""

import sys

from photorecon.cli import main

sys.exit(main())
