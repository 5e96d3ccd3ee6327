import sys

from nrf_deploy.cli import main

sys.exit(main())
