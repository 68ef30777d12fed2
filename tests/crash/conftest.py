# Crash tests reuse the integration harness (real server processes on free loopback ports).
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "integration"))
