"""`python -m core.train cnn|gpt2 --config run.json` (also under torchrun): see `core.train.cli`."""

import sys

from core.train.cli import main

sys.exit(main())
