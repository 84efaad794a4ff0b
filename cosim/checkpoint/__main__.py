"""``python -m cosim.checkpoint MODEL.yaml OUT_DIR``: write a synthetic checkpoint."""

from cosim.checkpoint.make import main

raise SystemExit(main())
