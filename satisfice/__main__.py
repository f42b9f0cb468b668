from satisfice.cli import main

raise SystemExit(main())
