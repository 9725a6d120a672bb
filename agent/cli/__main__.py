"""`python -m agent.cli ...` runs the warden CLI."""
import sys

from agent.cli import main

sys.exit(main())
