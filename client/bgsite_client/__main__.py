import sys

from bgsite_client.cli import main

sys.exit(main())
