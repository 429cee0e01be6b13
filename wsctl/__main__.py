"""``python -m wsctl``: the same entry point as the ``wsctl`` console script."""

from wsctl.cli import main

if __name__ == "__main__":
    main()
