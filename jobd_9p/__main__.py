"""``python -m jobd_9p``: the same as the ``jobd`` command."""

from .cli import main

raise SystemExit(main())
