from honed.cli.main import main

raise SystemExit(main())
