"""Allow ``python -m mnist_doctor``."""

from mnist_doctor.cli.main import main

raise SystemExit(main())
