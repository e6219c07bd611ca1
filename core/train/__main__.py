"""`python -m core.train cnn|gpt2 --config run.json`: see `core.train`."""

import sys

from core.train import main

sys.exit(main())
