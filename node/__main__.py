"""`python -m node …` is `onewindow node …` (used by the demo and the real-process tests)."""

import argparse
import sys

from node.cli import build_parser, run

if __name__ == "__main__":  # a spawned worker process (PDF rendering) imports this module again
    parser = argparse.ArgumentParser(prog="onewindow node")
    build_parser(parser)
    sys.exit(run(parser.parse_args()))
