from nrf_deploy.console import entry

entry()
