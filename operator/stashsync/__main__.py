from stashsync.cli.main import main

raise SystemExit(main())
