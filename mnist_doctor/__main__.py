"""Allow ``python -m mnist_doctor``."""

from mnist_doctor.cli.app import main

raise SystemExit(main())
