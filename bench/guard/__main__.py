from bench.guard.cli import main

raise SystemExit(main())
