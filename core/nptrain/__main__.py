"""``python -m nptrain`` (also what ``torchrun -m nptrain`` runs)."""
import sys

from nptrain.cli.main import main

sys.exit(main())
