import sys
from pathlib import Path

# The OTLP payload builders are shared by these tests, the e2e tests and the benchmark.
sys.path.insert(0, str(Path(__file__).parent))
