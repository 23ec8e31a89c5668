"""Allow ``python -m mnist_doctor``."""

from mnist_doctor.cli import main

raise SystemExit(main())
