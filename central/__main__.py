"""`python -m central …` is `onewindow central …`."""

import argparse
import sys

from central.cli import build_parser, run

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="onewindow central")
    build_parser(parser)
    sys.exit(run(parser.parse_args()))
