"""Entry point for ``python -m connector``."""

from connector.cli import main

if __name__ == "__main__":
    main()
