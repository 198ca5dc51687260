"""``python -m prefetcher``: the same as the ``prefetcher`` command."""

from prefetcher._cli import main

raise SystemExit(main())
