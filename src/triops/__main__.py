from triops.cli.main import run

run()
