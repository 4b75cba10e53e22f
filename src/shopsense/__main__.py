"""`python -m shopsense` runs the command line, for environments without the script on PATH."""

from shopsense.cli import main

if __name__ == "__main__":
    main()
