from integc.cli import run

run()
