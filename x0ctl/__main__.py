from x0ctl.cli.main import run

run()
