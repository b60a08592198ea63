"""``python -m jenkins_broker.fakejenkins``: the same as ``jenkins-broker fake-jenkins``."""

import argparse
import sys

from .command import DESCRIPTION, add_arguments, run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jenkins_broker.fakejenkins",
                                     description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
