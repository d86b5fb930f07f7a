from laneway.cli.main import main

raise SystemExit(main())
