from otcore.cli import main

raise SystemExit(main())
